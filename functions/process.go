package functions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"
)

// ProcessRunner runs exec: jobs as local programs: the process driver's
// function runner, and `go run` without Docker. A program gets only the
// job's environment plus Env (the parent's own settings, such as a cluster
// token, never reach it), runs in its own process group, and is killed
// with that group at the timeout or when its stdout passes MaxOutput.
type ProcessRunner struct {
	// Env is added to every job's environment (e.g. "PATH=/usr/bin:/bin").
	Env []string
	// Dir is the working directory ("" = the parent's).
	Dir string
	// MaxOutput caps stdout (ErrOutputTooLarge beyond); MaxStderr the
	// stderr kept. Zero: 1 MiB and 8 KiB.
	MaxOutput, MaxStderr int
}

var _ Runner = (*ProcessRunner)(nil)

// Run implements Runner.
func (p *ProcessRunner) Run(ctx context.Context, job Job) (Output, error) {
	if job.Command == "" {
		return Output{}, errors.New("functions: process runner: no command")
	}
	maxOut, maxErr := p.MaxOutput, p.MaxStderr
	if maxOut <= 0 {
		maxOut = 1 << 20
	}
	if maxErr <= 0 {
		maxErr = 8 << 10
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if job.Timeout > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, job.Timeout, ErrTimeout)
		defer stop()
	}
	cmd := exec.CommandContext(runCtx, job.Command, job.Args...)
	cmd.Env = append(append([]string(nil), p.Env...), job.Env...)
	cmd.Dir = p.Dir
	cmd.Stdin = bytes.NewReader(job.Stdin)
	stdout := &limitWriter{max: maxOut, over: func() { cancel(ErrOutputTooLarge) }}
	stderr := &limitWriter{max: maxErr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	ownGroup(cmd)
	// Output pipes held open by a grandchild must not keep Wait blocked
	// past the kill.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	out := Output{ExitCode: -1, Stdout: stdout.bytes(), Stderr: stderr.bytes()}
	if cause := context.Cause(runCtx); runCtx.Err() != nil && ctx.Err() == nil {
		return out, fmt.Errorf("functions: %s: %w", job.Command, cause)
	}
	if ctx.Err() != nil {
		return out, fmt.Errorf("functions: %s: %w", job.Command, context.Cause(ctx))
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		out.ExitCode = exit.ExitCode()
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("functions: %s: %w", job.Command, err)
	}
	out.ExitCode = 0
	return out, nil
}

// limitWriter keeps the first max bytes; past them it drops the rest and
// calls over once (which kills the run of a strict stdout).
type limitWriter struct {
	mu   sync.Mutex
	buf  []byte
	max  int
	over func()
	cut  bool
}

func (w *limitWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.max - len(w.buf)
	if len(p) <= room {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	w.buf = append(w.buf, p[:max(room, 0)]...)
	if !w.cut && w.over != nil {
		w.over()
	}
	w.cut = true
	return len(p), nil
}

func (w *limitWriter) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf
}
