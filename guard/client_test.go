package guard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// resolver answers every name with fixed addresses.
type resolver []string

func (r resolver) LookupHost(context.Context, string) ([]string, error) { return r, nil }

// guardOnLoopback serves a Server over real sockets; the web service's
// first task is 127.0.0.1, so this test process is that task.
func guardOnLoopback(t *testing.T) (*fakePlatform, *fakeRunner, string) {
	t.Helper()
	p, r := newFakePlatform(), &fakeRunner{}
	p.Tasks[0].Addrs = map[string]string{"app_mitosis": "127.0.0.1"}
	s, err := NewServer(testConfig(), []byte(testToken), p, r.forCaller, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return p, r, srv.Listener.Addr().String()
}

func newClient(t *testing.T, addr, token, service string, r resolver) *spawner.GuardClient {
	t.Helper()
	cfg := spawner.DefaultGuardClientConfig(addr)
	cfg.Token, cfg.Service = token, service
	if r != nil {
		cfg.Resolver = r
	}
	g, err := spawner.NewGuardClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

// TestClientAgainstGuard runs the guard driver against the guard: the
// swarm driver's contract (Status, Scale with CAS, conflicts) holds, and
// refusals come back as errors naming their rule.
func TestClientAgainstGuard(t *testing.T) {
	ctx := context.Background()
	p, r, addr := guardOnLoopback(t)
	g := newClient(t, addr, testToken, "app_web", nil)
	if !g.CanAct(ctx) {
		t.Fatal("CanAct = false")
	}
	st, err := g.Status(ctx)
	if err != nil || st != (spawner.Status{Desired: 2, Running: 2, Version: 7}) {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if err := g.Scale(ctx, 4, st.Version); err != nil {
		t.Fatal(err)
	}
	if err := g.Scale(ctx, 3, st.Version); !spawner.IsConflict(err) {
		t.Fatalf("Scale at a stale version = %v, want a conflict", err)
	}
	var ge *spawner.GuardError
	if err := g.Scale(ctx, 6, st.Version+1); !errors.As(err, &ge) || ge.Rule != spawner.RuleAboveMax || ge.Status != 403 {
		t.Fatalf("Scale above max = %v, want a GuardError above_max", err)
	}
	if got := p.applied(); len(got) != 1 || got[0] != "svc-web=4" {
		t.Fatalf("applied = %v", got)
	}
	res, err := g.RunTask(ctx, spawner.TaskSpec{Image: "fn:1", Args: []string{"go"}, Stdin: []byte("in\x00put"), Network: "host", Timeout: 5 * time.Second})
	if err != nil || res.ExitCode != 3 || string(res.Stdout) != "hello from fn:1: in\x00put" || string(res.Stderr) != "warn" {
		t.Fatalf("RunTask = %+v, %v", res, err)
	}
	if spec := r.specs()[0]; spec.Network != "app_functions" || spec.Timeout != 5*time.Second {
		t.Fatalf("the guard ran %+v; want its own network and the asked timeout", spec)
	}
	if _, err := g.RunTask(ctx, spawner.TaskSpec{Image: "alpine:3"}); !errors.As(err, &ge) || ge.Rule != spawner.RuleNotAllowedImage {
		t.Fatalf("RunTask of another image = %v", err)
	}
	r.Err = context.DeadlineExceeded
	if _, err := g.RunTask(ctx, spawner.TaskSpec{Image: "fn:1", Timeout: time.Second}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RunTask past its timeout = %v, want DeadlineExceeded", err)
	}
	r.Err = fmt.Errorf("spawner: task fn:1: %w", spawner.ErrOutputLimit)
	if _, err := g.RunTask(ctx, spawner.TaskSpec{Image: "fn:1"}); !errors.Is(err, spawner.ErrOutputLimit) {
		t.Fatalf("RunTask with too much output = %v, want ErrOutputLimit", err)
	}
}

func TestClientRefused(t *testing.T) {
	ctx := context.Background()
	_, _, addr := guardOnLoopback(t)
	var ge *spawner.GuardError
	bad := newClient(t, addr, strings.Repeat("y", len(testToken)), "", nil)
	if bad.CanAct(ctx) {
		t.Fatal("CanAct with a wrong token")
	}
	if _, err := bad.Status(ctx); !errors.As(err, &ge) || ge.Rule != spawner.RuleBadToken {
		t.Fatalf("Status with a wrong token = %v", err)
	}
	other := newClient(t, addr, testToken, "app_api", nil)
	if err := other.Scale(ctx, 2, 3); !errors.As(err, &ge) || ge.Rule != spawner.RuleOtherService {
		t.Fatalf("Scale naming app_api from a web task = %v", err)
	}
}

// TestClientTriesTheNextGuard: a guard address that refuses connections
// is skipped (nothing was sent there); with none left the call fails.
func TestClientTriesTheNextGuard(t *testing.T) {
	ctx := context.Background()
	_, _, addr := guardOnLoopback(t)
	_, port, _ := net.SplitHostPort(addr)
	// 127.0.0.2 is loopback too, but nothing listens there on this port.
	g := newClient(t, "tasks.guard:"+port, testToken, "app_web", resolver{"127.0.0.2", "127.0.0.1"})
	for range 2 {
		if _, err := g.Status(ctx); err != nil {
			t.Fatal(err)
		}
	}
	dead := newClient(t, "tasks.guard:"+port, testToken, "app_web", resolver{"127.0.0.2"})
	if _, err := dead.Status(ctx); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("Status with no live guard = %v", err)
	}
	if dead.CanAct(ctx) {
		t.Fatal("CanAct with no live guard")
	}
}

// TestClientSeesPending: what Swarm cannot place reaches the replica
// through the guard: the pending count, the scheduler's words, a reason of
// the fixed set and the placement.
func TestClientSeesPending(t *testing.T) {
	p, _, addr := guardOnLoopback(t)
	const msg = "no suitable node (host-mode port already in use on 1 node)"
	p.mu.Lock()
	web := p.Services["svc-web"]
	web.Desired, web.Pending, web.PendingReason, web.PendingMessage, web.Placement = 5, 3, spawner.PendingPort, msg, "1:n1"
	p.mu.Unlock()
	st, err := newClient(t, addr, testToken, "app_web", nil).Status(context.Background())
	want := spawner.Status{Desired: 5, Running: 2, Version: 7, Pending: 3, PendingReason: spawner.PendingPort, PendingMessage: msg, Placement: "1:n1"}
	if err != nil || st != want {
		t.Fatalf("Status = %+v, %v\nwant     %+v", st, err, want)
	}
}
