package health

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/pool"
)

// sibling is a real HTTP server answering /_mitosis/state; its answers are
// switched by the test.
type sibling struct {
	srv      *httptest.Server
	id       string
	port     int
	failing  atomic.Bool
	draining atomic.Bool
	polls    atomic.Int64
}

func newSibling(t *testing.T, id string) *sibling {
	t.Helper()
	s := &sibling{id: id, port: 8080}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.polls.Add(1)
		if r.URL.Path != pool.StatePath {
			http.NotFound(w, r)
			return
		}
		if s.failing.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(pool.State{
			ID: s.id, PublicPort: s.port, Inflight: 2, Capacity: 8, Draining: s.draining.Load(),
		})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sibling) addr() string { return s.srv.Listener.Addr().String() }

func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func testConfig() Config {
	return Config{Interval: 20 * time.Millisecond, Timeout: 500 * time.Millisecond, Fails: 3, Concurrency: 4}
}

func newTestProber(store *pool.Store, client *http.Client) *Prober {
	return NewProber(store, &pool.Fetcher{Client: client}, testConfig(), "self-id", nil, func() time.Time { return t0 })
}

func state(t *testing.T, s *pool.Store, key string) pool.MemberState {
	t.Helper()
	m, ok := s.Get(key)
	if !ok {
		t.Fatalf("member %s missing", key)
	}
	return m.State
}

func TestProberDownAfterConsecutiveFailures(t *testing.T) {
	store := pool.NewStore()
	dead := deadAddr(t)
	store.Upsert(pool.Member{Key: dead, State: pool.StateReady})
	p := newTestProber(store, nil)
	ctx := context.Background()

	for i := 1; i <= 2; i++ {
		p.ProbeOnce(ctx)
		m, _ := store.Get(dead)
		if m.State != pool.StateReady || m.Fails != i {
			t.Fatalf("after %d failures: state %s, fails %d; want still ready", i, m.State, m.Fails)
		}
	}
	p.ProbeOnce(ctx)
	if st := state(t, store, dead); st != pool.StateDown {
		t.Fatalf("after 3 failures: state %s, want down", st)
	}
	if len(store.Ready()) != 0 {
		t.Fatal("down member still in Ready()")
	}
	if got := counterValue(t, p, "error"); got != 3 {
		t.Fatalf("mitosis_state_polls_total{result=error} = %v, want 3", got)
	}
}

func TestProberBackAfterOneSuccess(t *testing.T) {
	sib := newSibling(t, "r1")
	store := pool.NewStore()
	store.Reconcile([]pool.Target{{AdminAddr: sib.addr(), Source: "static"}}, t0)
	p := newTestProber(store, sib.srv.Client())
	ctx := context.Background()

	sib.failing.Store(true)
	for range 3 {
		p.ProbeOnce(ctx)
	}
	if st := state(t, store, sib.addr()); st != pool.StateDown {
		t.Fatalf("joining member after 3 failed polls: %s, want down", st)
	}
	sib.failing.Store(false)
	p.ProbeOnce(ctx)
	m, _ := store.Get(sib.addr())
	wantAddr := net.JoinHostPort("127.0.0.1", "8080")
	if m.State != pool.StateReady || m.ID != "r1" || m.Addr != wantAddr || m.Fails != 0 ||
		m.Inflight != 2 || m.Capacity != 8 || !m.Updated.Equal(t0) {
		t.Fatalf("after one success: %+v; want ready r1 at %s with the reported load", m, wantAddr)
	}
	if r := store.Ready(); len(r) != 1 || r[0].Key != sib.addr() {
		t.Fatalf("Ready() = %v", r)
	}
	if got := counterValue(t, p, "ok"); got != 1 {
		t.Fatalf("polls ok = %v, want 1", got)
	}
}

// TestProberLogsNameTheSibling: a state change is logged with the
// sibling's id as well as its address, also when it goes down (the id it
// last reported).
func TestProberLogsNameTheSibling(t *testing.T) {
	sib := newSibling(t, "web-7")
	store := pool.NewStore()
	store.Reconcile([]pool.Target{{AdminAddr: sib.addr(), Source: "static"}}, t0)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	p := NewProber(store, &pool.Fetcher{Client: sib.srv.Client()}, testConfig(), "self-id", log, func() time.Time { return t0 })
	ctx := context.Background()
	p.ProbeOnce(ctx)
	sib.failing.Store(true)
	for range 3 {
		p.ProbeOnce(ctx)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2 (ready, down):\n%s", len(lines), logs.String())
	}
	for i, to := range []string{"to=ready", "to=down"} {
		if !strings.Contains(lines[i], "sibling_id=web-7") || !strings.Contains(lines[i], "sibling="+sib.addr()) || !strings.Contains(lines[i], to) {
			t.Errorf("line %d %q: want the sibling's id, address and %s", i, lines[i], to)
		}
	}
}

func TestProberPassiveEjectionThenRecovery(t *testing.T) {
	sib := newSibling(t, "r1")
	store := pool.NewStore()
	store.Upsert(pool.Member{Key: sib.addr(), State: pool.StateReady})
	p := newTestProber(store, sib.srv.Client())

	store.MarkDown(sib.addr()) // the balancer saw a refused connection
	if len(store.Ready()) != 0 {
		t.Fatal("marked-down member still ready")
	}
	store.ApplyLoad(sib.addr(), pool.Load{Inflight: 1}, t0) // a late header must not revive it
	if st := state(t, store, sib.addr()); st != pool.StateDown {
		t.Fatalf("load header revived a down member: %s", st)
	}
	p.ProbeOnce(context.Background())
	if st := state(t, store, sib.addr()); st != pool.StateReady {
		t.Fatalf("after a successful poll: %s, want ready", st)
	}
}

func TestProberDraining(t *testing.T) {
	sib := newSibling(t, "r1")
	store := pool.NewStore()
	store.Reconcile([]pool.Target{{AdminAddr: sib.addr()}}, t0)
	p := newTestProber(store, sib.srv.Client())
	p.ProbeOnce(context.Background())
	if st := state(t, store, sib.addr()); st != pool.StateReady {
		t.Fatalf("state %s, want ready", st)
	}
	sib.draining.Store(true)
	p.ProbeOnce(context.Background())
	if st := state(t, store, sib.addr()); st != pool.StateDraining {
		t.Fatalf("state %s, want draining", st)
	}
	if len(store.Ready()) != 0 {
		t.Fatal("draining member still in Ready()")
	}
}

func TestProberRemovesSelf(t *testing.T) {
	me := newSibling(t, "self-id")
	other := newSibling(t, "r2")
	store := pool.NewStore()
	targets := []pool.Target{{AdminAddr: me.addr()}, {AdminAddr: other.addr()}}
	store.Reconcile(targets, t0)
	p := newTestProber(store, nil)
	p.ProbeOnce(context.Background())

	if _, ok := store.Get(me.addr()); ok {
		t.Fatal("member reporting our own id is still in the table")
	}
	if st := state(t, store, other.addr()); st != pool.StateReady {
		t.Fatalf("other sibling: %s, want ready", st)
	}
	store.Reconcile(targets, t0)
	if _, ok := store.Get(me.addr()); ok {
		t.Fatal("discovery re-added our own address")
	}
}

func TestProberCancelledIsNotAFailure(t *testing.T) {
	dead := deadAddr(t)
	store := pool.NewStore()
	store.Upsert(pool.Member{Key: dead, State: pool.StateReady})
	p := newTestProber(store, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.ProbeOnce(ctx)
	if m, _ := store.Get(dead); m.Fails != 0 {
		t.Fatalf("a poll aborted by shutdown counted as a failure: %+v", m)
	}
}

// TestProberBoundedConcurrency polls 100 members that all reach one counting
// server (the dialer ignores the member address), and checks the number of
// polls in flight reaches Concurrency and never exceeds it.
func TestProberBoundedConcurrency(t *testing.T) {
	const concurrency = 4
	var cur, peak, total atomic.Int64
	full := make(chan struct{}) // closed once concurrency polls are in flight
	var fullOnce sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		defer cur.Add(-1)
		total.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		if n >= concurrency {
			fullOnce.Do(func() { close(full) })
		}
		// The first polls hold their slot until the prober has filled
		// every slot, so overlap is certain, not a matter of timing.
		select {
		case <-full:
		case <-r.Context().Done():
		}
		fmt.Fprintf(w, `{"id":%q,"public_port":8080}`, r.Host)
	}))
	defer srv.Close()
	target := srv.Listener.Addr().String()
	var d net.Dialer
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, target)
		},
		MaxIdleConnsPerHost: 1,
	}}
	defer client.CloseIdleConnections()

	store := pool.NewStore()
	var targets []pool.Target
	for i := range 100 {
		targets = append(targets, pool.Target{AdminAddr: fmt.Sprintf("sib-%03d:9090", i)})
	}
	store.Reconcile(targets, t0)
	cfg := testConfig()
	cfg.Concurrency = concurrency
	p := NewProber(store, &pool.Fetcher{Client: client}, cfg, "self-id", nil, nil)
	p.ProbeOnce(context.Background())

	if got := total.Load(); got != 100 {
		t.Fatalf("server saw %d polls, want 100", got)
	}
	if got := peak.Load(); got != concurrency {
		t.Fatalf("peak concurrent polls %d, want Concurrency %d", got, concurrency)
	}
	if got := store.Counts()[pool.StateReady]; got != 100 {
		t.Fatalf("%d ready members, want 100", got)
	}
	t.Logf("peak concurrent polls: %d", peak.Load())
}

func TestProberRun(t *testing.T) {
	sib := newSibling(t, "r1")
	store := pool.NewStore()
	store.Reconcile([]pool.Target{{AdminAddr: sib.addr()}}, t0)
	p := NewProber(store, &pool.Fetcher{Client: sib.srv.Client()}, testConfig(), "self-id", nil, nil)
	reg := prometheus.NewPedanticRegistry()
	if err := p.Register(reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(ctx) })

	deadline := time.After(5 * time.Second)
	for sib.polls.Load() < 3 {
		select {
		case <-store.Watch():
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("Run polled %d times in 5s", sib.polls.Load())
		}
	}
	cancel()
	wg.Wait()
	if st := state(t, store, sib.addr()); st != pool.StateReady {
		t.Fatalf("state %s, want ready", st)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "mitosis_state_polls_total" {
		t.Fatalf("registered metrics = %v, %v", mfs, err)
	}
}

func counterValue(t *testing.T, p *Prober, result string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := p.Register(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
