package functions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Runners are the runners a Set may use, by kind; nil: functions of that
// kind cannot be configured.
type Runners struct {
	// Image runs image functions as containers (ContainerRunner over the
	// engine's spawner.Tasks, or over the guard).
	Image Runner
	// Exec runs exec: functions as local programs (ProcessRunner).
	Exec Runner
}

// Request is a call of a function from Go.
type Request struct {
	// Args are appended to the function's own arguments.
	Args []string
	// Env entries are KEY=VALUE; keys are letters, digits and '_', not
	// starting with a digit.
	Env []string
	// Stdin is the function's standard input.
	Stdin []byte
}

// Result is the outcome of a run that reached its exit. A non-zero
// ExitCode is a result, not an error.
type Result struct {
	ExitCode int
	Stdout   []byte
	// Stderr is cut at Config.MaxStderr (it also went to the log).
	Stderr   []byte
	Duration time.Duration
}

// Set runs the configured functions with their limits: a slot per run
// (Concurrency, a bounded FIFO queue, QueueTimeout), a timeout per run,
// output caps, an async backlog, metrics, and a drain. Safe for
// concurrent use.
type Set struct {
	cfg     Config
	log     *slog.Logger
	byName  map[string]*fn
	routes  []*fn // with a path, longest first
	runners Runners
	m       *metrics

	// base outlives every run until Close's deadline cancels it: then the
	// runs still going are killed.
	base context.Context
	kill context.CancelFunc

	mu       sync.Mutex
	draining bool
	runs     sync.WaitGroup // calls and accepted async runs not yet finished
}

// fn is one function with its limiter and metrics.
type fn struct {
	Function
	lim   *limiter
	async atomic.Int64 // accepted async runs not yet finished
	obs   fnMetrics
}

// New builds a Set. Every function must have a runner of its kind. reg
// receives the metrics (nil: not registered); log gets failures and the
// functions' stderr (nil: discarded).
func New(cfg Config, runners Runners, reg prometheus.Registerer, log *slog.Logger) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Set{cfg: cfg, log: log, byName: map[string]*fn{}, runners: runners}
	var errs []error
	for _, f := range cfg.Functions {
		if s.runner(f.Kind()) == nil {
			errs = append(errs, fmt.Errorf("MITOSIS_FUNCTIONS entry %q: no runner for %s functions here%s", f.String(), f.Kind(), kindHint(f.Kind())))
			continue
		}
		x := &fn{Function: f, lim: newLimiter(cfg.Concurrency, cfg.QueueMax)}
		s.byName[f.Name] = x
		if f.Path != "" {
			s.routes = append(s.routes, x)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(s.routes, func(a, b *fn) int { return len(b.Path) - len(a.Path) })
	m, err := newMetrics(reg, s)
	if err != nil {
		return nil, err
	}
	s.m = m
	for _, x := range s.byName {
		x.obs = m.forFunction(x.Name)
	}
	s.base, s.kill = context.WithCancel(context.Background())
	return s, nil
}

func kindHint(kind string) string {
	if kind == KindImage {
		return " (image functions need a Docker engine: MITOSIS_DRIVER=swarm or docker, or a guard)"
	}
	return " (exec: functions run with the process driver only)"
}

func (s *Set) runner(kind string) Runner {
	if kind == KindExec {
		return s.runners.Exec
	}
	return s.runners.Image
}

// Functions lists the configured functions.
func (s *Set) Functions() []Function {
	out := make([]Function, 0, len(s.byName))
	for _, x := range s.byName {
		out = append(out, x.Function)
	}
	slices.SortFunc(out, func(a, b Function) int { return strings.Compare(a.Name, b.Name) })
	return out
}

var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (s *Set) job(name string, req Request) (*fn, Job, error) {
	x := s.byName[name]
	if x == nil {
		return nil, Job{}, fmt.Errorf("%w: %q", ErrUnknownFunction, name)
	}
	for _, kv := range req.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || !envKey.MatchString(k) || strings.ContainsRune(kv, 0) {
			return nil, Job{}, fmt.Errorf("functions: %s: environment entry %q: must be KEY=VALUE, KEY of letters, digits and _", name, k)
		}
	}
	for _, a := range req.Args {
		if strings.ContainsRune(a, 0) {
			return nil, Job{}, fmt.Errorf("functions: %s: an argument holds NUL", name)
		}
	}
	return x, x.job(append(slices.Clone(x.Args), req.Args...), req.Env, req.Stdin, s.cfg.Timeout), nil
}

func (x *fn) job(args, env []string, stdin []byte, timeout time.Duration) Job {
	return Job{Image: x.Image, Command: x.Command, Args: args, Env: env, Stdin: stdin, Timeout: timeout}
}

// Call runs function name once and waits for its result, within the
// function's limits: it may wait for a slot (ErrBusy, ErrQueueTimeout),
// and the run is killed at Config.Timeout (ErrTimeout) or when ctx ends.
func (s *Set) Call(ctx context.Context, name string, req Request) (Result, error) {
	x, job, err := s.job(name, req)
	if err != nil {
		return Result{}, err
	}
	return s.call(ctx, x, job)
}

// Start runs function name in the background (the article's
// `dockerrun -d`) and returns at once: nil when the run was accepted,
// ErrAsyncFull when AsyncMax runs of it already wait or run, ErrDraining.
// The run has the same limits as a call; its failures go to the log and
// the metrics.
func (s *Set) Start(name string, req Request) error {
	x, job, err := s.job(name, req)
	if err != nil {
		return err
	}
	return s.start(x, job)
}

// enter counts a new run unless the set drains.
func (s *Set) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.runs.Add(1)
	return true
}

func (s *Set) call(ctx context.Context, x *fn, job Job) (Result, error) {
	if !s.enter() {
		x.obs.outcome(outcomeShed)
		return Result{}, ErrDraining
	}
	defer s.runs.Done()
	// The run also ends when Close gives up waiting.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.base, func() { cancel(ErrDraining) })
	defer stop()
	if err := x.lim.acquire(ctx, s.cfg.QueueTimeout); err != nil {
		if errors.Is(err, ErrBusy) || errors.Is(err, ErrQueueTimeout) || errors.Is(err, ErrDraining) {
			x.obs.outcome(outcomeShed)
		} else {
			x.obs.outcome(outcomeCanceled)
		}
		return Result{}, err
	}
	defer x.lim.release()
	if s.base.Err() != nil {
		// The drain deadline came while this call waited (the AfterFunc
		// above may not have run yet): start nothing.
		x.obs.outcome(outcomeCanceled)
		return Result{}, ErrDraining
	}
	return s.run(ctx, x, job)
}

func (s *Set) start(x *fn, job Job) error {
	if !s.enter() {
		x.obs.outcome(outcomeShed)
		return ErrDraining
	}
	if x.async.Add(1) > int64(s.cfg.AsyncMax) {
		x.async.Add(-1)
		s.runs.Done()
		x.obs.outcome(outcomeShed)
		return ErrAsyncFull
	}
	go func() {
		defer s.runs.Done()
		defer x.async.Add(-1)
		if err := x.lim.await(s.base); err != nil {
			x.obs.outcome(outcomeCanceled)
			s.log.Warn("function: async run dropped at the drain deadline", "function", x.Name)
			return
		}
		defer x.lim.release()
		res, err := s.run(s.base, x, job)
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit status %d", res.ExitCode)
		}
		if err != nil {
			s.log.Warn("function: async run failed", "function", x.Name, "err", err)
		}
	}()
	return nil
}

// run runs one job in a slot the caller holds, and accounts for it.
func (s *Set) run(ctx context.Context, x *fn, job Job) (Result, error) {
	start := time.Now()
	out, err := s.runner(x.Kind()).Run(ctx, job)
	d := time.Since(start)
	x.obs.duration.Observe(d.Seconds())
	res := Result{ExitCode: out.ExitCode, Stdout: out.Stdout, Stderr: out.Stderr, Duration: d}
	if len(res.Stderr) > s.cfg.MaxStderr {
		res.Stderr = res.Stderr[:s.cfg.MaxStderr]
	}
	outcome := outcomeOK
	switch {
	case errors.Is(err, ErrTimeout):
		outcome = outcomeTimeout
	case errors.Is(err, ErrOutputTooLarge):
		outcome = outcomeTooLarge
	case errors.Is(err, ErrBusy):
		outcome = outcomeShed // refused further on (the guard's run limit)
	case err != nil && ctx.Err() != nil:
		outcome = outcomeCanceled
	case err != nil:
		outcome = outcomeError
	case out.ExitCode != 0:
		outcome = outcomeFailed
	}
	x.obs.outcome(outcome)
	switch {
	case outcome == outcomeFailed:
		s.log.Warn("function: exit status not zero", "function", x.Name, "exit", out.ExitCode, "stderr", string(res.Stderr))
	case outcome == outcomeError || outcome == outcomeTooLarge || outcome == outcomeTimeout:
		s.log.Warn("function: run failed", "function", x.Name, "err", err, "stderr", string(res.Stderr))
	case len(res.Stderr) > 0:
		s.log.Info("function: stderr", "function", x.Name, "stderr", string(res.Stderr))
	}
	return res, err
}

// Close drains the set: new calls and starts get ErrDraining at once;
// calls and async runs in progress or waiting may finish until ctx ends,
// then every run still going is killed (its container removed) and Close
// returns an error saying how many were cut.
func (s *Set) Close(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.runs.Wait(); close(done) }()
	select {
	case <-done:
		s.kill()
		return nil
	case <-ctx.Done():
	}
	n := s.busy()
	s.kill()
	// Runners return promptly once cancelled (a kill and a remove); a
	// frozen daemon is not waited for past killWait.
	t := time.NewTimer(killWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	return fmt.Errorf("functions: drain deadline: %d runs killed or dropped", n)
}

// killWait bounds how long Close waits for killed runs to clean up.
const killWait = 5 * time.Second

// busy counts the runs in progress or waiting, of every function.
func (s *Set) busy() int {
	n := 0
	for _, x := range s.byName {
		n += x.lim.inflight() + int(x.lim.queued.Load()+x.lim.waiting.Load())
	}
	return n
}
