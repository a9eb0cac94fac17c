package functions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// Job is one run of a function as a runner sees it: everything in it was
// decided by the Set from its configuration, except Env and Stdin, which
// carry the request as data.
type Job struct {
	// Image or Command: exactly one is set, from the Function.
	Image   string
	Command string
	Args    []string
	// Env entries are KEY=VALUE (the CGI variables of a request).
	Env   []string
	Stdin []byte
	// Timeout bounds the run; the runner kills (and removes) what is still
	// running then. ctx may end it earlier.
	Timeout time.Duration
}

// Output is what a run that reached its exit produced.
type Output struct {
	ExitCode int
	Stdout   []byte
	// Stderr is cut at the runner's cap.
	Stderr []byte
}

// Runner runs one job to its end. Implementations bound the stdout they
// keep (ErrOutputTooLarge beyond it, the run killed), honour ctx and
// Job.Timeout, and leave nothing behind (no process, no container). They
// must be safe for concurrent use.
type Runner interface {
	Run(ctx context.Context, job Job) (Output, error)
}

// Errors of calls (compare with errors.Is).
var (
	// ErrUnknownFunction: no function of that name is configured.
	ErrUnknownFunction = errors.New("functions: no such function")
	// ErrBusy: every slot is taken and the queue is full.
	ErrBusy = errors.New("functions: busy: queue full")
	// ErrQueueTimeout: the call waited QueueTimeout without a slot.
	ErrQueueTimeout = errors.New("functions: busy: no slot in time")
	// ErrAsyncFull: AsyncMax async runs already wait or run.
	ErrAsyncFull = errors.New("functions: busy: too many async runs")
	// ErrDraining: the replica drains and starts no new run.
	ErrDraining = errors.New("functions: draining")
	// ErrTimeout: the run took longer than its timeout and was killed.
	ErrTimeout = errors.New("functions: run timed out")
	// ErrOutputTooLarge: the run wrote more than MaxOutput bytes to
	// stdout and was killed.
	ErrOutputTooLarge = errors.New("functions: output too large")
)

// Tasker runs one-shot containers: *spawner.Tasks (on the engine) and the
// guard's client have this method.
type Tasker interface {
	RunTask(ctx context.Context, spec spawner.TaskSpec) (spawner.TaskResult, error)
}

// ContainerRunner runs image jobs as containers through a Tasker, on one
// fixed network (the guard attaches its own and ignores it). A guard that
// refuses a run for the service's run limit answers ErrBusy. The container's settings (caps, user, read-only root,
// no privileges) are the Tasker's forced-safe ones: a job cannot change
// them.
type ContainerRunner struct {
	Tasks   Tasker
	Network string
}

var _ Runner = (*ContainerRunner)(nil)

// Run implements Runner.
func (r *ContainerRunner) Run(ctx context.Context, job Job) (Output, error) {
	if job.Image == "" {
		return Output{}, errors.New("functions: container runner: no image")
	}
	res, err := r.Tasks.RunTask(ctx, spawner.TaskSpec{
		Image: job.Image, Args: job.Args, Env: job.Env, Stdin: job.Stdin, Network: r.Network, Timeout: job.Timeout,
	})
	out := Output{ExitCode: res.ExitCode, Stdout: res.Stdout, Stderr: res.Stderr}
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, spawner.ErrOutputLimit):
		return out, fmt.Errorf("%w: %w", ErrOutputTooLarge, err)
	case errors.Is(err, spawner.ErrTaskTimeout):
		// The task's own timeout, not the caller's context nor a slow
		// daemon call.
		return out, fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	var ge *spawner.GuardError
	if errors.As(err, &ge) && ge.Rule == spawner.RuleRateLimited {
		// The guard runs a bounded number of containers per service: the
		// caller is told to come back, as when its own slots are taken.
		return out, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return out, err
}
