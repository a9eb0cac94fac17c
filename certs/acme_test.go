package certs

import (
	"bytes"
	"context"
	"encoding/json"

	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// A failed order (the CA cannot reach any replica's challenge answer) is
// logged, counted and retried with a growing back-off; nothing is served
// over HTTPS meanwhile, and the replica reports ready (Settle is 0 here).
func TestFailedOrderBacksOff(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close() // the CA's validation connects here and is refused
	p := startPebble(t, deadPort, time.Hour)

	var logs syncBuffer
	m, _ := newTestMetrics(t)
	cfg := DefaultConfig()
	cfg.Domains, cfg.RedirectListen, cfg.CA, cfg.ACMEClient = testDomains[:1], ":0", p.dir, p.client
	cfg.SyncInterval, cfg.Settle, cfg.RetryMin, cfg.RetryMax = 20*time.Millisecond, 0, 200*time.Millisecond, 400*time.Millisecond
	tier := &fakeTier{leader: true}
	now := &stepClock{t: time.Now()}
	mg, err := New(cfg, tier, m, slog.New(slog.NewTextHandler(&logs, nil)), now.now)
	if err != nil {
		t.Fatal(err)
	}
	// The loop's rounds, one by one.
	ctx := context.Background()
	mg.step(ctx)
	if got := counter(m.orders.WithLabelValues("obtain", "error")); got != 1 || counter(m.failing) != 1 {
		t.Fatalf("after a failed order: errors %v, consecutive %v; want 1 and 1", got, counter(m.failing))
	}
	if !strings.Contains(logs.String(), "ACME order failed") || !strings.Contains(logs.String(), "retry_in=200ms") {
		t.Fatalf("log lacks the failure and its back-off:\n%s", logs.String())
	}
	if !mg.Ready() {
		t.Fatal("not ready after a failed order: plain HTTP would stop being served")
	}
	// No retry before the back-off has passed.
	orders := p.orders.Load()
	now.advance(150 * time.Millisecond)
	mg.step(ctx)
	if got := p.orders.Load(); got != orders {
		t.Fatalf("retried before the back-off passed: %d orders, had %d", got, orders)
	}
	now.advance(100 * time.Millisecond)
	mg.step(ctx)
	if got := counter(m.orders.WithLabelValues("obtain", "error")); got != 2 || counter(m.failing) != 2 || !strings.Contains(logs.String(), "retry_in=400ms") {
		t.Fatalf("after the retry: errors %v, consecutive %v; want 2 and 2 with a doubled back-off; log:\n%s", got, counter(m.failing), logs.String())
	}
	if p.orders.Load() != orders+1 {
		t.Fatalf("the retry placed %d orders; want 1", p.orders.Load()-orders)
	}
	if mg.Certificate() != nil {
		t.Fatal("a certificate is served after failed orders")
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {7, time.Hour}, {100, time.Hour}} {
		if got := backoff(tc.n, time.Minute, time.Hour); got != tc.want {
			t.Errorf("backoff(%d) = %s; want %s", tc.n, got, tc.want)
		}
	}
}

// The state in MITOSIS_TLS_STORE survives a restart of the whole tier: a
// replica that starts with it serves at once and orders nothing.
func TestStoreSurvivesRestart(t *testing.T) {
	f := newFront(t)
	p := startPebble(t, f.port(), time.Hour)
	dir := t.TempDir()
	clk := &clock{}
	r := startReplica(t, p, f, clk, dir)
	r.tier.set(true)
	eventually(t, 30*time.Second, "a certificate", func() bool { return r.mg.Certificate() != nil })
	serial := serialOf(r.mg.Certificate())
	r.stop()

	again := startReplica(t, p, f, clk, dir)
	again.tier.set(true)
	if got := serialOf(again.mg.Certificate()); got != serial || !again.mg.Ready() {
		t.Fatalf("after a restart the replica serves %q (ready %v); want the stored %s at once", got, again.mg.Ready(), serial)
	}
	if o, a := p.orders.Load(), p.accounts.Load(); o != 1 || a != 1 {
		t.Fatalf("the CA saw %d orders and %d accounts; want 1 and 1", o, a)
	}
	if got := again.served(t, p, testDomains[0]); got != serial {
		t.Fatalf("serves %q over HTTPS; want %s", got, serial)
	}
}

// The state endpoint holds private keys: only a caller with the cluster
// token gets it, and without a token configured nobody does.
func TestStateEndpointNeedsToken(t *testing.T) {
	m, _ := newTestMetrics(t)
	mg := lonelyACME(t, m)
	mg.cfg.Token = "secret"
	srv := httptest.NewServer(mg.AdminHandler())
	defer srv.Close()
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("X-Mitosis-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := "tok_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	mg.own[tok] = tok + ".x"
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{StatePath, "", 401}, {StatePath, "wrong", 401}, {StatePath, "secret", 200},
		{challengePath + tok, "", 401}, {challengePath + tok, "secret", 200},
		{challengePath + "tok_unknownunknownunknownunknown", "secret", 404},
	} {
		if got := get(tc.path, tc.token); got != tc.want {
			t.Errorf("GET %s with token %q: %d; want %d", tc.path, tc.token, got, tc.want)
		}
	}
	mg.cfg.Token = ""
	if got := get(StatePath, ""); got != http.StatusForbidden {
		t.Fatalf("without a cluster token: %d; want 403", got)
	}
}

// A broken or hostile sibling's state is ignored: garbage, an oversized
// body, a certificate for other names, an expired one, a key that does
// not match, malformed challenges.
func TestHostileSiblingState(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	good, goodKey := ca.issue(t, 30, now.Add(-time.Hour), now.Add(time.Hour), "a.example")
	other, otherKey := ca.issue(t, 31, now.Add(-time.Hour), now.Add(2*time.Hour), "evil.example")
	expired, expiredKey := ca.issue(t, 32, now.Add(-3*time.Hour), now.Add(-time.Hour), "a.example")
	_, strayKey := ca.issue(t, 33, now.Add(-time.Hour), now.Add(time.Hour), "a.example")
	state := func(c, k []byte, ch map[string]string) []byte {
		b, _ := json.Marshal(State{Cert: &CertState{ChainPEM: string(c), KeyPEM: string(k)}, Challenges: ch})
		return b
	}
	tok := "tok_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	cases := []struct {
		name string
		body []byte
		want string // serial served afterwards ("" = none)
		chal bool   // tok answered afterwards
	}{
		{"garbage", []byte("{not json"), "", false},
		{"oversized", append([]byte(`{"challenges":{"x":"`), bytes.Repeat([]byte("a"), maxStateBytes)...), "", false},
		{"other names", state(other, otherKey, nil), "", false},
		{"expired", state(expired, expiredKey, nil), "", false},
		{"key does not match", state(good, strayKey, nil), "", false},
		{"bad challenges", state(nil, nil, map[string]string{"short": "short.x", tok: "not-for-this-token"}), "", false},
		{"good", state(good, goodKey, map[string]string{tok: tok + ".thumb"}), "30", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sib := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tc.body) }))
			defer sib.Close()
			m, _ := newTestMetrics(t)
			mg := lonelyACME(t, m)
			mg.cfg.Token = "secret"
			mg.tier = &fakeTier{peers: []string{strings.TrimPrefix(sib.URL, "http://")}}
			mg.step(context.Background())
			if got := serialOf(mg.Certificate()); got != tc.want {
				t.Fatalf("serves %q; want %q", got, tc.want)
			}
			if _, ok := mg.localChallenge(tok); ok != tc.chal {
				t.Fatalf("challenge known %v; want %v", ok, tc.chal)
			}
		})
	}
}

// stepClock is a clock that moves only when told.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
