package spawner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Labels of one-shot task containers. LabelTask marks them all, so
// leftovers can be found (`docker ps -a --filter label=mitosis.task`);
// the others say who started a task and until when it may run, so that a
// replica can remove what it (or a dead sibling of its group) left.
const (
	LabelTask = "mitosis.task"
	// LabelTaskOwner names the replica that started the task.
	LabelTaskOwner = "mitosis.task.owner"
	// LabelTaskGroup names the replica's service (or docker group).
	LabelTaskGroup = "mitosis.task.group"
	// LabelTaskDeadline is the Unix time (seconds) after which the task
	// is overdue: its starter would have killed it by then.
	LabelTaskDeadline = "mitosis.task.deadline"
)

// ErrOutputLimit is returned by RunTask when a task wrote more than
// TaskConfig.MaxOutput bytes to stdout: the task is killed at once (a
// response cut short must not pass for a whole one).
var ErrOutputLimit = errors.New("spawner: task stdout over the limit")

// ErrTaskTimeout is returned by RunTask when the run passed its own
// timeout (TaskSpec.Timeout or TaskConfig.Timeout) and was killed; it
// wraps context.DeadlineExceeded. A deadline of the caller's context is
// not this error.
var ErrTaskTimeout = fmt.Errorf("spawner: task timed out: %w", context.DeadlineExceeded)

// TaskSpec is one run of a function container (the article's
// client.run(image, args)). Nothing in it can change the container's
// privileges: those come from TaskConfig and the forced-safe settings.
type TaskSpec struct {
	// Image must be present on the engine; it is not pulled.
	Image string
	// Args replace the image's CMD (the ENTRYPOINT stays).
	Args []string
	// Env entries are KEY=VALUE.
	Env []string
	// Stdin is written to the task's standard input, which is then
	// closed. Nil: stdin is closed at once.
	Stdin []byte
	// Network attaches the container to one network by name: a bridge or
	// an attachable overlay ("" = "none", no network at all). "host" and
	// "container:..." are refused.
	Network string
	// Timeout bounds the run from create to exit (0 = TaskConfig.Timeout).
	// On timeout the container is killed and removed.
	Timeout time.Duration
}

// TaskResult is the outcome of a run that reached the container's exit.
type TaskResult struct {
	ExitCode int
	// Stdout is what the task wrote to standard output (at most
	// TaskConfig.MaxOutput bytes: more is ErrOutputLimit).
	Stdout []byte
	// Stderr is its standard error, cut at TaskConfig.MaxStderr bytes.
	Stderr []byte
	// StderrTruncated reports that Stderr was cut.
	StderrTruncated bool
}

// TaskConfig configures RunTask. The resource caps and the user apply to
// every task container; they are not part of a TaskSpec.
type TaskConfig struct {
	// Timeout is the default run timeout (default 5m).
	Timeout time.Duration
	// MaxOutput caps a task's stdout (default 1 MiB).
	MaxOutput int
	// MaxStderr caps the stderr kept (default 64 KiB; the rest is dropped).
	MaxStderr int
	// Memory caps a task's memory in bytes, swap included (default 128 MiB).
	Memory int64
	// NanoCPUs caps its CPU in billionths of a CPU (default 0.5 CPU).
	NanoCPUs int64
	// Pids caps its processes and threads (default 64).
	Pids int64
	// TmpfsBytes is the size of the writable /tmp on the read-only root
	// (default 16 MiB).
	TmpfsBytes int64
	// User runs the task as uid[:gid] (default "65534:65534", nobody).
	User string
	// Owner and Group label every task (LabelTaskOwner, LabelTaskGroup):
	// the replica and its service. Sweep needs at least one of them.
	Owner, Group string
}

// DefaultTaskConfig returns the defaults.
func DefaultTaskConfig() TaskConfig {
	return TaskConfig{
		Timeout: 5 * time.Minute, MaxOutput: 1 << 20, MaxStderr: 64 << 10,
		Memory: 128 << 20, NanoCPUs: 500_000_000, Pids: 64, TmpfsBytes: 16 << 20,
		User: "65534:65534",
	}
}

var userPattern = regexp.MustCompile(`^[0-9]{1,10}(:[0-9]{1,10})?$`)

// Validate reports settings out of range.
func (c TaskConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("spawner: "+format, args...)) }
	if c.Timeout < time.Second || c.Timeout > 24*time.Hour {
		bad("task timeout = %s, must be in [1s; 24h] range", c.Timeout)
	}
	if c.MaxOutput < 1 || c.MaxOutput > 64<<20 {
		bad("task max output = %d, must be in [1; %d] range", c.MaxOutput, 64<<20)
	}
	if c.MaxStderr < 0 || c.MaxStderr > 64<<20 {
		bad("task max stderr = %d, must be in [0; %d] range", c.MaxStderr, 64<<20)
	}
	if c.Memory < 6<<20 || c.Memory > 64<<30 {
		bad("task memory = %d, must be in [6 MiB; 64 GiB] range", c.Memory)
	}
	if c.NanoCPUs < 10_000_000 || c.NanoCPUs > 64_000_000_000 {
		bad("task CPUs = %g, must be in [0.01; 64] range", float64(c.NanoCPUs)/1e9)
	}
	if c.Pids < 1 || c.Pids > 4096 {
		bad("task pids = %d, must be in [1; 4096] range", c.Pids)
	}
	if c.TmpfsBytes < 0 || c.TmpfsBytes > c.Memory {
		bad("task tmpfs = %d, must be in [0; memory] range", c.TmpfsBytes)
	}
	if !userPattern.MatchString(c.User) {
		bad("task user = %q, must be a numeric uid[:gid]", c.User)
	}
	for _, l := range []string{c.Owner, c.Group} {
		if strings.ContainsAny(l, "=,\x00\r\n") {
			bad("task owner/group label %q: must not contain '=', ',', CR, LF or NUL", l)
		}
	}
	return errors.Join(errs...)
}

// CheckNetwork reports whether name may carry a task: a network name, or
// "" / "none" for no network. "host" and "container:<id>" would share a
// namespace with the host or another container and are refused.
func CheckNetwork(name string) error {
	switch {
	case name == "" || name == "none":
		return nil
	case name == "host" || strings.HasPrefix(name, "container:"):
		return fmt.Errorf("network %q shares a namespace: not allowed for tasks", name)
	case !networkPattern.MatchString(name):
		return fmt.Errorf("network %q: must be a network name ([A-Za-z0-9][A-Za-z0-9_.-]*)", name)
	}
	return nil
}

var networkPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// taskAPI is what RunTask needs of the engine (*Engine).
type taskAPI interface {
	createTask(ctx context.Context, t taskContainer) (string, error)
	attachTask(ctx context.Context, id string) (taskStream, error)
	startTask(ctx context.Context, id string) error
	waitContainer(ctx context.Context, id string) (int, error)
	killContainer(ctx context.Context, id string) error
	removeContainer(ctx context.Context, id string) error
	listContainers(ctx context.Context, labels map[string]string) ([]containerInfo, error)
}

// taskStream is an attached container: its stdin to write, the
// multiplexed stdout/stderr to read (Docker's stdcopy framing).
type taskStream interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// Tasks runs one-shot containers. Safe for concurrent use.
type Tasks struct {
	api taskAPI
	cfg TaskConfig
	now func() time.Time

	mu       sync.Mutex
	live     map[string]bool // containers of runs in progress, which Sweep leaves alone
	creating int             // creates in flight: their containers are not in live yet
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
	return &Tasks{api: api, cfg: cfg, now: time.Now, live: map[string]bool{}}, nil
}

// RunTask creates a container with the forced-safe settings, attaches to
// it, starts it, feeds it spec.Stdin and reads stdout and stderr apart
// until it exits. The container is always removed, even when ctx is
// cancelled or the run fails (removal uses a context of its own). A
// non-zero exit code is a result, not an error; errors are for runs that
// did not complete (ErrOutputLimit for a stdout over the cap).
func (t *Tasks) RunTask(ctx context.Context, spec TaskSpec) (TaskResult, error) {
	if spec.Image == "" {
		return TaskResult{}, errors.New("spawner: task: no image")
	}
	if err := CheckNetwork(spec.Network); err != nil {
		return TaskResult{}, fmt.Errorf("spawner: task %s: %w", spec.Image, err)
	}
	timeout := spec.Timeout
	if timeout <= 0 {
		timeout = t.cfg.Timeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrTaskTimeout)
	defer cancel()
	// fail names the step; once the run's context is done its cause
	// (ErrTaskTimeout, or the caller's) says why the step failed.
	fail := func(step string, err error) error {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		if step == "" {
			return fmt.Errorf("spawner: task %s: %w", spec.Image, err)
		}
		return fmt.Errorf("spawner: task %s: %s: %w", spec.Image, step, err)
	}

	labels := map[string]string{
		LabelTask:         "1",
		LabelTaskDeadline: strconv.FormatInt(t.now().Add(timeout).Unix(), 10),
	}
	if t.cfg.Owner != "" {
		labels[LabelTaskOwner] = t.cfg.Owner
	}
	if t.cfg.Group != "" {
		labels[LabelTaskGroup] = t.cfg.Group
	}
	t.mu.Lock()
	t.creating++
	t.mu.Unlock()
	id, err := t.api.createTask(ctx, taskContainer{
		Image: spec.Image, Args: spec.Args, Env: spec.Env, Network: spec.Network, Labels: labels,
		User: t.cfg.User, Memory: t.cfg.Memory, NanoCPUs: t.cfg.NanoCPUs, Pids: t.cfg.Pids, TmpfsBytes: t.cfg.TmpfsBytes,
	})
	t.mu.Lock()
	t.creating--
	if err == nil {
		t.live[id] = true
	}
	t.mu.Unlock()
	if err != nil {
		return TaskResult{}, fail("create", err)
	}
	// The run's ctx may be done: clean up on a fresh one.
	bg := context.WithoutCancel(ctx)
	defer func() {
		t.remove(bg, id)
		t.setLive(id, false)
	}()
	// Attach before start: output written before the attach is lost.
	stream, err := t.api.attachTask(ctx, id)
	if err != nil {
		return TaskResult{}, fail("attach", err)
	}
	var closeOnce sync.Once
	closeStream := func() { closeOnce.Do(func() { _ = stream.Close() }) }
	defer closeStream()
	if err := t.api.startTask(ctx, id); err != nil {
		return TaskResult{}, fail("start", err)
	}
	go func() {
		// A task that does not read its stdin blocks this write until the
		// stream closes; its error is of no interest then.
		if len(spec.Stdin) > 0 {
			_, _ = stream.Write(spec.Stdin)
		}
		_ = stream.CloseWrite()
	}()
	stdout := &cappedBuffer{max: t.cfg.MaxOutput, strict: true}
	stderr := &cappedBuffer{max: t.cfg.MaxStderr}
	copied := make(chan error, 1)
	go func() { copied <- demux(stdout, stderr, stream) }()

	copyDone := false
	killed := func(err error) (TaskResult, error) {
		_ = t.api.killContainer(bg, id)
		closeStream()
		if !copyDone {
			<-copied
		}
		return TaskResult{ExitCode: -1, Stdout: stdout.bytes(), Stderr: stderr.bytes(), StderrTruncated: stderr.cut}, err
	}
	select {
	case err := <-copied:
		copyDone = true
		if errors.Is(err, ErrOutputLimit) {
			return killed(fail("", fmt.Errorf("%w (%d bytes)", ErrOutputLimit, t.cfg.MaxOutput)))
		}
		// Any other end of the stream (EOF, a broken connection) is
		// settled by the exit code below.
	case <-ctx.Done():
		return killed(fail("", context.Cause(ctx)))
	}
	code, err := t.api.waitContainer(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return killed(fail("", context.Cause(ctx)))
		}
		return TaskResult{}, fail("wait", err)
	}
	return TaskResult{ExitCode: code, Stdout: stdout.bytes(), Stderr: stderr.bytes(), StderrTruncated: stderr.cut}, nil
}

func (t *Tasks) setLive(id string, live bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if live {
		t.live[id] = true
	} else {
		delete(t.live, id)
	}
}

// ownBusy reports whether an own container listed before this call may
// belong to a run in progress: it is live, or a create was in flight (its
// container may be listed before it is marked live).
func (t *Tasks) ownBusy(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live[id] || t.creating > 0
}

// removeFor bounds how long RunTask keeps trying to remove a container
// the daemon failed to remove: one left running could still do its work
// after its run was reported failed, and would escape the concurrency cap.
// What is still left after it is Sweep's.
const removeFor = 30 * time.Second

// remove removes a task container, retrying a failing daemon with backoff
// for up to removeFor.
func (t *Tasks) remove(ctx context.Context, id string) {
	deadline := time.Now().Add(removeFor)
	for delay := 250 * time.Millisecond; ; delay = min(delay*2, 4*time.Second) {
		err := t.api.removeContainer(ctx, id)
		if err == nil || errors.Is(err, errNotFound) || time.Now().Add(delay).After(deadline) {
			return
		}
		time.Sleep(delay) // backoff before asking the daemon again
	}
}

// cappedBuffer keeps the first max bytes. A strict one fails the write
// that goes over (ErrOutputLimit); otherwise the rest is dropped while
// full writes are reported, so that the copy runs to the end.
type cappedBuffer struct {
	mu     sync.Mutex
	buf    []byte
	max    int
	strict bool
	cut    bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); len(p) > room {
		b.cut = true
		b.buf = append(b.buf, p[:max(room, 0)]...)
		if b.strict {
			return max(room, 0), ErrOutputLimit
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *cappedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf
}
