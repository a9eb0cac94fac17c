package spawner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

// Defaults of ProcessConfig.
const (
	// DefaultStartTimeout is how long a child may take to answer /readyz
	// with 200 before it is killed and replaced.
	DefaultStartTimeout = 15 * time.Second
	// DefaultStopTimeout is the SIGTERM→SIGKILL grace of a retired child.
	// It matches the parent's own drain budget rather than Swarm's 10 s
	// stop_grace_period: nothing outside waits for a child.
	DefaultStopTimeout = 30 * time.Second
	// DefaultPollInterval paces readiness polls and the supervisor's
	// reconciliation.
	DefaultPollInterval = 200 * time.Millisecond
	// DefaultRestartBackoff and DefaultMaxRestartBackoff bound the pause
	// before a replacement is started after a child crashed or never got
	// ready: 1 s doubling to 30 s, so a crash-looping binary does not spin.
	DefaultRestartBackoff    = time.Second
	DefaultMaxRestartBackoff = 30 * time.Second
	// loadTimeout bounds one Load call when choosing whom to retire.
	loadTimeout = 2 * time.Second
)

// ErrClosed is returned by Scale after Close.
var ErrClosed = errors.New("spawner: process driver closed")

// ProcessConfig configures the process driver. Zero values take the
// defaults documented per field.
type ProcessConfig struct {
	// Binary is the executable started as a child. Default: os.Executable().
	Binary string
	// Args are the child's arguments (without argv[0]). nil means
	// os.Args[1:]; a non-nil empty slice means no arguments.
	Args []string
	// Env is the base environment of a child; the MITOSIS_* variables the
	// driver sets (see childEnv) replace any copy in it. nil means
	// os.Environ().
	Env []string
	// ParentID is the replica id of this process; children are named
	// "<ParentID>-<n>" with n increasing from 1. Default: "p<pid>".
	ParentID string
	// ParentAdmin is this process's admin address (host:port), given to the
	// children as their only static peer. An empty or wildcard host
	// (":9090", "0.0.0.0:9090", "[::]:9090") becomes 127.0.0.1, since the
	// children live on loopback. Required.
	ParentAdmin string
	// StartTimeout is the readiness wait of a new child (default 15s).
	StartTimeout time.Duration
	// StopTimeout is the SIGTERM→SIGKILL grace of a retired child
	// (default 30s).
	StopTimeout time.Duration
	// PollInterval paces readiness polls and reconciliation (default 200ms).
	PollInterval time.Duration
	// RestartBackoff is the first pause before replacing a failed child; it
	// doubles per consecutive failure up to MaxRestartBackoff and resets
	// once a child gets ready (defaults 1s and 30s).
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// Load returns the in-flight plus queued requests of the child whose
	// admin address is given; the idlest child is retired first. Default:
	// GET http://adminAddr/_mitosis/state, inflight+queued of pool.State.
	Load func(ctx context.Context, adminAddr string) (int, error)
	// Token is sent in pool.TokenHeader with the default Load's state
	// poll: the children's MITOSIS_CLUSTER_TOKEN (empty: none).
	Token string
	// Client polls the children (readiness and the default Load). Default:
	// a client of its own, whose idle connections Close releases.
	Client *http.Client
	// Stdout and Stderr receive the children's output. Default: os.Stdout
	// and os.Stderr. Pass *os.File values: with other writers os/exec adds
	// a pipe whose copy can hold up Wait.
	Stdout, Stderr io.Writer
	// Log receives lifecycle events (start, ready, retire, exit). Default:
	// slog.Default().
	Log *slog.Logger
}

// DefaultProcessConfig returns the defaults, with Binary, Args, Env and
// ParentID taken from this process. ParentAdmin is left empty: the caller
// knows its admin address.
func DefaultProcessConfig() ProcessConfig {
	bin, _ := os.Executable() // empty on error: Validate names it
	return ProcessConfig{
		Binary:            bin,
		Args:              append([]string{}, os.Args[1:]...),
		Env:               os.Environ(),
		ParentID:          fmt.Sprintf("p%d", os.Getpid()),
		StartTimeout:      DefaultStartTimeout,
		StopTimeout:       DefaultStopTimeout,
		PollInterval:      DefaultPollInterval,
		RestartBackoff:    DefaultRestartBackoff,
		MaxRestartBackoff: DefaultMaxRestartBackoff,
	}
}

// withDefaults fills zero fields from DefaultProcessConfig.
func (c ProcessConfig) withDefaults() ProcessConfig {
	d := DefaultProcessConfig()
	if c.Binary == "" {
		c.Binary = d.Binary
	}
	if c.Args == nil {
		c.Args = d.Args
	}
	if c.Env == nil {
		c.Env = d.Env
	}
	if c.ParentID == "" {
		c.ParentID = d.ParentID
	}
	durs := []struct {
		v *time.Duration
		d time.Duration
	}{
		{&c.StartTimeout, d.StartTimeout},
		{&c.StopTimeout, d.StopTimeout},
		{&c.PollInterval, d.PollInterval},
		{&c.RestartBackoff, d.RestartBackoff},
		{&c.MaxRestartBackoff, d.MaxRestartBackoff},
	}
	for _, x := range durs {
		if *x.v == 0 {
			*x.v = x.d
		}
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Validate reports every invalid setting at once. It checks the values as
// given; NewProcess applies the defaults first.
func (c ProcessConfig) Validate() error {
	var errs []error
	if c.Binary == "" {
		errs = append(errs, errors.New(`process driver: binary = "", must name an executable`))
	}
	if c.ParentID == "" {
		errs = append(errs, errors.New(`process driver: parent id = "", must not be empty`))
	}
	if _, _, err := net.SplitHostPort(c.ParentAdmin); err != nil {
		errs = append(errs, fmt.Errorf("process driver: parent admin = %q, must be host:port: %w", c.ParentAdmin, err))
	}
	durs := []struct {
		name string
		v    time.Duration
	}{
		{"start timeout", c.StartTimeout},
		{"stop timeout", c.StopTimeout},
		{"poll interval", c.PollInterval},
		{"restart backoff", c.RestartBackoff},
		{"max restart backoff", c.MaxRestartBackoff},
	}
	for _, d := range durs {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("process driver: %s = %s, must be > 0", d.name, d.v))
		}
	}
	if c.MaxRestartBackoff > 0 && c.MaxRestartBackoff < c.RestartBackoff {
		errs = append(errs, fmt.Errorf("process driver: max restart backoff = %s, must be >= restart backoff (%s)",
			c.MaxRestartBackoff, c.RestartBackoff))
	}
	return errors.Join(errs...)
}

// Replica is one child as the `process` discovery source lists it.
type Replica struct {
	// ID is "<ParentID>-<n>", the child's MITOSIS_REPLICA_ID.
	ID string
	// Addr and AdminAddr are the child's public and admin listeners on
	// 127.0.0.1.
	Addr, AdminAddr string
	PID             int
	// Ready reports that the child answered /readyz with 200 once.
	Ready   bool
	Started time.Time
}

// Process is the `process` driver: sibling replicas are child processes of
// the same binary on free loopback ports. The parent counts as one replica.
// Its methods are safe for concurrent use.
type Process struct {
	cfg    ProcessConfig
	log    *slog.Logger
	client *http.Client
	ownCl  bool // client built here: Close releases its idle connections

	startc chan startRequest // served by the OS-thread-locked starter
	poke   chan struct{}     // wakes the supervisor; buffered(1)
	ctx    context.Context   // ends when Close begins
	cancel context.CancelFunc
	superv sync.WaitGroup // the supervisor
	bg     sync.WaitGroup // per-child waiters, readiness pollers, retirers

	mu        sync.Mutex
	wanted    int // children wanted (Desired-1)
	version   uint64
	nextN     int
	children  map[int]*child // every started child not yet reaped, by n
	failures  int            // consecutive failed children, for the backoff
	nextStart time.Time      // no start before this (backoff)
	closing   bool
	closeOnce sync.Once
	closeErr  error
}

var _ Driver = (*Process)(nil)

// NewProcess applies the defaults to cfg, validates it and starts the
// supervisor with no children (one replica: the parent).
func NewProcess(cfg ProcessConfig) (*Process, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ParentAdmin = loopbackAdmin(cfg.ParentAdmin)
	p := &Process{
		cfg:      cfg,
		log:      cfg.Log.With("driver", "process"),
		client:   cfg.Client,
		startc:   make(chan startRequest),
		poke:     make(chan struct{}, 1),
		version:  1,
		children: make(map[int]*child),
	}
	if p.client == nil {
		p.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second}}
		p.ownCl = true
	}
	if p.cfg.Load == nil {
		p.cfg.Load = p.stateLoad
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	ready := make(chan struct{})
	go p.starter(ready)
	<-ready
	p.superv.Add(1)
	go p.supervise()
	return p, nil
}

// loopbackAdmin turns an empty or wildcard host into 127.0.0.1.
func loopbackAdmin(hp string) string {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return hp
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Status reports Desired = 1 + wanted children and Running = 1 + children
// that passed readiness and are not retiring.
func (p *Process) Status(context.Context) (Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	running := 1
	for _, c := range p.children {
		if c.ready && !c.retiring {
			running++
		}
	}
	return Status{Desired: 1 + p.wanted, Running: running, Version: p.version}, nil
}

// Scale records that n replicas (the parent plus n-1 children) are wanted
// and returns at once; the supervisor starts or retires children in the
// background. A version other than the one Status returned yields a
// *ConflictError. n below 1 is an error: the parent cannot retire itself.
func (p *Process) Scale(_ context.Context, n int, version uint64) error {
	if n < 1 {
		return fmt.Errorf("spawner: process driver: replicas = %d, must be >= 1 (the parent is one)", n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return ErrClosed
	}
	if version != p.version {
		return &ConflictError{Version: version, Err: fmt.Errorf("process driver is at version %d", p.version)}
	}
	p.version++
	if p.wanted != n-1 {
		p.log.Info("scale", "from", 1+p.wanted, "to", n)
	}
	p.wanted = n - 1
	p.wake()
	return nil
}

// Replicas lists the started children that are not retiring, oldest first,
// ready or not: the health prober of the pool decides readiness for
// routing. It is the `process` discovery source.
func (p *Process) Replicas() []Replica {
	p.mu.Lock()
	out := make([]Replica, 0, len(p.children))
	for _, c := range p.children {
		if !c.retiring {
			out = append(out, c.replica())
		}
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].Started.Before(out[j].Started) || (out[i].Started.Equal(out[j].Started) && out[i].ID < out[j].ID)
	})
	return out
}

// Close stops the supervisor, sends SIGTERM to every child and waits for
// them until ctx ends; children still alive then get SIGKILL. Call it after
// the parent's own drain. Later calls return the first result.
func (p *Process) Close(ctx context.Context) error {
	p.closeOnce.Do(func() { p.closeErr = p.close(ctx) })
	return p.closeErr
}

func (p *Process) close(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.cancel()
	p.superv.Wait() // no start is in flight past this point

	p.mu.Lock()
	kids := make([]*child, 0, len(p.children))
	for _, c := range p.children {
		c.retiring = true
		kids = append(kids, c)
	}
	p.mu.Unlock()
	for _, c := range kids {
		terminate(c.cmd.Process)
	}
	var killed int
	for _, c := range kids {
		select {
		case <-c.done:
		case <-ctx.Done():
			if c.cmd.Process.Kill() == nil {
				killed++
			}
			<-c.done // SIGKILL cannot be ignored: the waiter reaps it shortly
		}
	}
	p.bg.Wait()
	close(p.startc) // the starter's locked thread exits; no child is left to signal
	if p.ownCl {
		p.client.CloseIdleConnections()
	}
	if killed > 0 {
		return fmt.Errorf("spawner: process driver: %d children killed after the close deadline: %w", killed, ctx.Err())
	}
	return nil
}

// wake pokes the supervisor without blocking.
func (p *Process) wake() {
	select {
	case p.poke <- struct{}{}:
	default:
	}
}
