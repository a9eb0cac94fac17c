package spawner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// GuardClientConfig says how to reach the guard.
type GuardClientConfig struct {
	// Addr is the guard as host:port. The host is resolved on every call
	// and may yield several guards (tasks.<guard service>: one per
	// manager); they are tried in turn, the one that answered last first.
	Addr string
	// Token is the shared secret (the content of MITOSIS_GUARD_TOKEN_FILE).
	Token string
	// Service is this replica's service (MITOSIS_SERVICE), sent with
	// status and scale so that the guard refuses if it identifies the
	// caller as another service; empty: not sent.
	Service string
	// CallTimeout bounds Status, Scale and CanAct (default 5s).
	CallTimeout time.Duration
	// DialTimeout bounds one connection attempt (default 1s), so that a
	// dead guard's address does not use up the call.
	DialTimeout time.Duration
	// Resolver resolves the host (nil: net.DefaultResolver).
	Resolver interface {
		LookupHost(ctx context.Context, host string) ([]string, error)
	}
}

// DefaultGuardClientConfig returns the defaults for addr.
func DefaultGuardClientConfig(addr string) GuardClientConfig {
	return GuardClientConfig{Addr: addr, CallTimeout: 5 * time.Second, DialTimeout: time.Second}
}

// Validate reports settings out of range.
func (c GuardClientConfig) Validate() error {
	var errs []error
	if err := CheckGuardAddr(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("spawner: %w", err))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("spawner: guard token is empty"))
	}
	if c.CallTimeout < 100*time.Millisecond || c.CallTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("spawner: guard call timeout = %s, must be in [100ms; 5m] range", c.CallTimeout))
	}
	if c.DialTimeout < 10*time.Millisecond || c.DialTimeout > c.CallTimeout {
		errs = append(errs, fmt.Errorf("spawner: guard dial timeout = %s, must be in [10ms; call timeout] range", c.DialTimeout))
	}
	return errors.Join(errs...)
}

// maxGuardAnswer bounds what is read of an answer: a run's output (1 MiB
// by default) in base64, with room.
const maxGuardAnswer = 96 << 20

// GuardClient is the guard driver: the swarm driver's Status and Scale,
// and RunTask, through the guard's capability API instead of the Docker
// socket. The guard decides which service the caller is; this client
// cannot name another. Safe for concurrent use.
type GuardClient struct {
	cfg  GuardClientConfig
	host string
	port string
	hc   *http.Client

	mu   sync.Mutex
	last string // the address that answered last
}

var _ Driver = (*GuardClient)(nil)

// NewGuardClient returns a guard client. It does not contact the guard.
func NewGuardClient(cfg GuardClientConfig) (*GuardClient, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	host, port, _ := net.SplitHostPort(cfg.Addr)
	d := &net.Dialer{Timeout: cfg.DialTimeout}
	tr := &http.Transport{
		Proxy: nil, // the guard identifies the caller by its address: never through a proxy
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		},
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &GuardClient{cfg: cfg, host: host, port: port, hc: &http.Client{Transport: tr}}, nil
}

// dialError marks a failure to connect: nothing was sent, another guard
// may be tried.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// Close releases idle connections.
func (g *GuardClient) Close() { g.hc.CloseIdleConnections() }

// Addr returns the configured guard address.
func (g *GuardClient) Addr() string { return g.cfg.Addr }

// addrs returns the guards to try, the last that answered first.
func (g *GuardClient) addrs(ctx context.Context) ([]string, error) {
	var ips []string
	if net.ParseIP(g.host) != nil {
		ips = []string{g.host}
	} else {
		var err error
		if ips, err = g.cfg.Resolver.LookupHost(ctx, g.host); err != nil {
			return nil, fmt.Errorf("resolve guard %s: %w", g.host, err)
		}
	}
	out := make([]string, 0, len(ips))
	g.mu.Lock()
	last := g.last
	g.mu.Unlock()
	for _, ip := range ips {
		a := net.JoinHostPort(ip, g.port)
		if a == last {
			out = append([]string{a}, out...)
		} else {
			out = append(out, a)
		}
	}
	return out, nil
}

// call sends one request to the first guard that accepts a connection and
// decodes a 2xx answer into out; any other answer is a *GuardError.
func (g *GuardClient) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	addrs, err := g.addrs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range addrs {
		req, err := http.NewRequestWithContext(ctx, method, "http://"+a+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set(GuardTokenHeader, "Bearer "+g.cfg.Token)
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := g.hc.Do(req)
		var de *dialError
		if errors.As(err, &de) && ctx.Err() == nil {
			errs = append(errs, err)
			continue // nothing was sent: try the next guard
		}
		if err != nil {
			return fmt.Errorf("guard %s: %w", a, err)
		}
		g.mu.Lock()
		g.last = a
		g.mu.Unlock()
		return decodeAnswer(resp, out)
	}
	if len(errs) == 0 {
		return fmt.Errorf("guard %s: no address", g.cfg.Addr)
	}
	return fmt.Errorf("guard %s not reachable: %w", g.cfg.Addr, errors.Join(errs...))
}

func decodeAnswer(resp *http.Response, out any) error {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxGuardAnswer))
	if err != nil {
		return fmt.Errorf("guard answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		ge := &GuardError{Status: resp.StatusCode}
		if json.Unmarshal(b, ge) != nil || ge.Rule == "" {
			ge.Rule, ge.Message = "", fmt.Sprintf("%.200q", b)
		}
		return ge
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("guard answer: %w", err)
	}
	return nil
}

func (g *GuardClient) timed(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.cfg.CallTimeout)
}

// Whoami asks the guard which service and task it takes this caller for.
func (g *GuardClient) Whoami(ctx context.Context) (GuardWhoami, error) {
	ctx, cancel := g.timed(ctx)
	defer cancel()
	var w GuardWhoami
	err := g.call(ctx, http.MethodGet, GuardPathWhoami, nil, &w)
	return w, err
}

// ServiceStatus reads the own service through the guard, with its tasks
// and the bounds the guard enforces.
func (g *GuardClient) ServiceStatus(ctx context.Context) (GuardStatus, error) {
	ctx, cancel := g.timed(ctx)
	defer cancel()
	path := GuardPathStatus
	if g.cfg.Service != "" {
		path += "?service=" + url.QueryEscape(g.cfg.Service)
	}
	var st GuardStatus
	err := g.call(ctx, http.MethodGet, path, nil, &st)
	return st, err
}

// Status reads the own service: Desired, Running, what cannot be placed
// and the version to pass to Scale.
func (g *GuardClient) Status(ctx context.Context) (Status, error) {
	st, err := g.ServiceStatus(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("spawner: guard: status: %w", err)
	}
	out := Status{Desired: st.Desired, Running: st.Running, Version: st.Version, Placement: st.Placement}
	if st.Pending > 0 {
		// The reason is one of a fixed set, whatever the guard sent.
		out.Pending, out.PendingReason, out.PendingMessage = st.Pending, pendingReason(st.PendingMessage, false), st.PendingMessage
	}
	return out, nil
}

// Scale asks the guard for n replicas of the own service at version. A
// stale version yields a *ConflictError, like the swarm driver's "update
// out of sequence"; every other refusal a *GuardError naming its rule.
func (g *GuardClient) Scale(ctx context.Context, n int, version uint64) error {
	ctx, cancel := g.timed(ctx)
	defer cancel()
	err := g.call(ctx, http.MethodPost, GuardPathScale, GuardScaleRequest{Service: g.cfg.Service, Replicas: n, Version: version}, nil)
	var ge *GuardError
	if errors.As(err, &ge) && ge.Rule == RuleConflict {
		return &ConflictError{Version: version, Err: ge}
	}
	if err != nil {
		return fmt.Errorf("spawner: guard: scale to %d: %w", n, err)
	}
	return nil
}

// CanAct reports whether a guard answers and knows this caller: scaling
// through it can work.
func (g *GuardClient) CanAct(ctx context.Context) bool {
	_, err := g.Whoami(ctx)
	return err == nil
}

// RunTask runs a function container through the guard, with the shape of
// Tasks.RunTask. The guard decides the container's settings (spec.Network
// is not sent: the guard attaches the network it is configured with);
// refusals are *GuardError (RuleNotAllowedImage, ...). A run the guard
// killed at its timeout is an error wrapping ErrTaskTimeout (and so
// context.DeadlineExceeded), one killed for its output ErrOutputLimit, as
// from Tasks.RunTask.
func (g *GuardClient) RunTask(ctx context.Context, spec TaskSpec) (TaskResult, error) {
	req := GuardRunRequest{Image: spec.Image, Args: spec.Args, Env: spec.Env, Stdin: spec.Stdin}
	if spec.Timeout > 0 {
		req.Timeout = spec.Timeout.String()
		// The answer comes after the run: allow the guard its own calls.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spec.Timeout+g.cfg.CallTimeout)
		defer cancel()
	}
	var res GuardRunResult
	err := g.call(ctx, http.MethodPost, GuardPathRun, req, &res)
	var ge *GuardError
	switch {
	case errors.As(err, &ge) && ge.Rule == RuleRunTimeout:
		return TaskResult{}, fmt.Errorf("spawner: guard: task %s: %w: %w", spec.Image, ErrTaskTimeout, ge)
	case errors.As(err, &ge) && ge.Rule == RuleOutputTooLarge:
		return TaskResult{}, fmt.Errorf("spawner: guard: task %s: %w: %w", spec.Image, ErrOutputLimit, ge)
	}
	if err != nil {
		return TaskResult{}, fmt.Errorf("spawner: guard: task %s: %w", spec.Image, err)
	}
	return TaskResult(res), nil
}
