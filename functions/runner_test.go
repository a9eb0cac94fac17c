package functions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/mitosis-run/mitosis/spawner"
)

// fakeTasker records task specs and answers with res, err.
type fakeTasker struct {
	mu    sync.Mutex
	specs []spawner.TaskSpec
	res   spawner.TaskResult
	err   error
}

func (f *fakeTasker) RunTask(ctx context.Context, spec spawner.TaskSpec) (spawner.TaskResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = append(f.specs, spec)
	return f.res, f.err
}

func TestContainerRunner(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"ok", nil, nil},
		{"output", fmt.Errorf("spawner: task x: %w", spawner.ErrOutputLimit), ErrOutputTooLarge},
		{"own timeout", fmt.Errorf("spawner: task x: %w", spawner.ErrTaskTimeout), ErrTimeout},
		{"a daemon call's deadline", fmt.Errorf("spawner: task x: start: %w", context.DeadlineExceeded), nil},
		{"other", errors.New("no such image"), nil},
		{"guard's run limit", fmt.Errorf("spawner: guard: %w", &spawner.GuardError{Status: 429, Rule: spawner.RuleRateLimited}), ErrBusy},
		{"guard's allow-list", &spawner.GuardError{Status: 403, Rule: spawner.RuleNotAllowedImage}, nil},
	}
	for _, tt := range tests {
		ft := &fakeTasker{res: spawner.TaskResult{ExitCode: 0, Stdout: []byte("out"), Stderr: []byte("err")}, err: tt.err}
		r := &ContainerRunner{Tasks: ft, Network: "net1"}
		out, err := r.Run(context.Background(), Job{Image: "i:1", Args: []string{"a"}, Env: []string{"K=v"}, Stdin: []byte("in"), Timeout: 7})
		switch {
		case tt.err == nil && (err != nil || string(out.Stdout) != "out" || string(out.Stderr) != "err"):
			t.Errorf("%s: %+v, %v", tt.name, out, err)
		case tt.err != nil && err == nil:
			t.Errorf("%s: no error", tt.name)
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		case tt.want == nil && (errors.Is(err, ErrTimeout) || errors.Is(err, ErrOutputTooLarge) || errors.Is(err, ErrBusy)):
			t.Errorf("%s: %v, want a plain error", tt.name, err)
		}
		s := ft.specs[0]
		if s.Image != "i:1" || s.Network != "net1" || string(s.Stdin) != "in" || s.Timeout != 7 || s.Env[0] != "K=v" || s.Args[0] != "a" {
			t.Errorf("%s: spec %+v", tt.name, s)
		}
	}
	if _, err := (&ContainerRunner{Tasks: &fakeTasker{}}).Run(context.Background(), Job{Command: "./x"}); err == nil {
		t.Error("an exec job on the container runner: no error")
	}
}
