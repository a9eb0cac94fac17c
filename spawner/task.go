package spawner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// LabelTask marks one-shot task containers, so leftovers can be found
// (`docker ps -a --filter label=mitosis.task`).
const LabelTask = "mitosis.task"

// TaskSpec is one run of a function container (the article's
// client.run(image, args)).
type TaskSpec struct {
	// Image must be present on the engine; it is not pulled.
	Image string
	// Args replace the image's CMD (the ENTRYPOINT stays).
	Args []string
	// Env entries are KEY=VALUE.
	Env []string
	// Network attaches the container to a network ("" = the default
	// bridge); on Swarm use an attachable overlay to reach services.
	Network string
	// Timeout bounds the run from create to exit (0 = TaskConfig.Timeout).
	// On timeout the container is killed and removed.
	Timeout time.Duration
}

// TaskResult is the outcome of a run that reached the container's exit.
type TaskResult struct {
	ExitCode int
	// Output is stdout and stderr, demultiplexed and interleaved in the
	// order Docker logged them, cut at TaskConfig.MaxOutput bytes.
	Output []byte
	// Truncated reports that Output was cut.
	Truncated bool
}

// TaskConfig configures RunTask.
type TaskConfig struct {
	// Timeout is the default run timeout (default 5m).
	Timeout time.Duration
	// MaxOutput caps TaskResult.Output (default 1 MiB).
	MaxOutput int
}

// DefaultTaskConfig returns the defaults.
func DefaultTaskConfig() TaskConfig { return TaskConfig{Timeout: 5 * time.Minute, MaxOutput: 1 << 20} }

// Validate reports settings out of range.
func (c TaskConfig) Validate() error {
	var errs []error
	if c.Timeout < time.Second || c.Timeout > 24*time.Hour {
		errs = append(errs, fmt.Errorf("spawner: task timeout = %s, must be in [1s; 24h] range", c.Timeout))
	}
	if c.MaxOutput < 1 || c.MaxOutput > 64<<20 {
		errs = append(errs, fmt.Errorf("spawner: task max output = %d, must be in [1; %d] range", c.MaxOutput, 64<<20))
	}
	return errors.Join(errs...)
}

// taskAPI is what RunTask needs of the engine (*Engine).
type taskAPI interface {
	createTask(ctx context.Context, t taskContainer) (string, error)
	startContainer(ctx context.Context, id string) error
	waitContainer(ctx context.Context, id string) (int, error)
	killContainer(ctx context.Context, id string) error
	containerLogs(ctx context.Context, id string, w io.Writer) error
	removeContainer(ctx context.Context, id string) error
}

// Tasks runs one-shot containers. Safe for concurrent use.
type Tasks struct {
	api taskAPI
	cfg TaskConfig
}

// NewTasks returns a task runner on engine e.
func NewTasks(e *Engine, cfg TaskConfig) (*Tasks, error) {
	if e == nil {
		return nil, errors.New("spawner: tasks need an engine")
	}
	return newTasks(e, cfg)
}

func newTasks(api taskAPI, cfg TaskConfig) (*Tasks, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Tasks{api: api, cfg: cfg}, nil
}

// RunTask creates, starts and waits for a container, then collects its
// logs. The container is always removed, even when ctx is cancelled or the
// run fails (removal uses a context of its own). A non-zero exit code is a
// result, not an error; errors are for runs that did not complete.
func (t *Tasks) RunTask(ctx context.Context, spec TaskSpec) (TaskResult, error) {
	if spec.Image == "" {
		return TaskResult{}, errors.New("spawner: task: no image")
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = t.cfg.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	id, err := t.api.createTask(ctx, taskContainer{
		Image: spec.Image, Args: spec.Args, Env: spec.Env, Network: spec.Network,
		Labels: map[string]string{LabelTask: "1"},
	})
	if err != nil {
		return TaskResult{}, fmt.Errorf("spawner: task %s: create: %w", spec.Image, err)
	}
	defer func() {
		// The run's ctx may be done: clean up on a fresh one (the engine
		// bounds it with its call timeout).
		_ = t.api.removeContainer(context.WithoutCancel(ctx), id)
	}()
	if err := t.api.startContainer(ctx, id); err != nil {
		return TaskResult{}, fmt.Errorf("spawner: task %s: start: %w", spec.Image, err)
	}
	code, err := t.api.waitContainer(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			_ = t.api.killContainer(context.WithoutCancel(ctx), id)
			return TaskResult{}, fmt.Errorf("spawner: task %s: %w", spec.Image, context.Cause(ctx))
		}
		return TaskResult{}, fmt.Errorf("spawner: task %s: wait: %w", spec.Image, err)
	}
	out := &cappedBuffer{max: t.cfg.MaxOutput}
	if err := t.api.containerLogs(context.WithoutCancel(ctx), id, out); err != nil {
		return TaskResult{ExitCode: code}, fmt.Errorf("spawner: task %s: logs: %w", spec.Image, err)
	}
	return TaskResult{ExitCode: code, Output: out.buf.Bytes(), Truncated: out.cut}, nil
}

// cappedBuffer keeps the first max bytes and drops the rest, reporting full
// writes so that the log copy runs to the end.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
	cut bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.cut = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}
