package balancer

import (
	"context"
	"io"
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

// gate is an app whose requests block until released.
type gate struct {
	entered atomic.Int64
	release chan struct{}
}

func newGate() *gate { return &gate{release: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.entered.Add(1)
	select {
	case <-g.release:
	case <-r.Context().Done():
		return
	}
	io.WriteString(w, "ok")
}

func testConfig(maxInflight, queueMax int, timeout time.Duration) Config {
	c := DefaultConfig()
	c.ID = "self"
	c.MaxInflight, c.QueueMax, c.QueueTimeout = maxInflight, queueMax, timeout
	return c
}

func newServer(t *testing.T, c Config, app http.Handler, opts ...Option) (*Handler, *httptest.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := New(c, app, reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv, reg
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"default", func(*Config) {}, ""},
		{"no id", func(c *Config) { c.ID = "" }, "MITOSIS_REPLICA_ID"},
		{"zero inflight", func(c *Config) { c.MaxInflight = 0 }, "MITOSIS_MAX_INFLIGHT=0"},
		{"negative queue", func(c *Config) { c.QueueMax = -1 }, "MITOSIS_QUEUE_MAX=-1"},
		{"zero timeout", func(c *Config) { c.QueueTimeout = 0 }, "MITOSIS_QUEUE_TIMEOUT=0s"},
		{"negative timeout", func(c *Config) { c.QueueTimeout = -time.Second }, "MITOSIS_QUEUE_TIMEOUT=-1s"},
		{"negative write timeout", func(c *Config) { c.WriteTimeout = -time.Second }, "write timeout -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestShedWithRetryAfter(t *testing.T) {
	g := newGate()
	_, srv, reg := newServer(t, testConfig(2, 3, 5*time.Second), g)

	const clients = 10
	codes := make(chan *http.Response, clients)
	for i := 0; i < clients; i++ {
		go func() {
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Error(err)
				codes <- nil
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp
		}()
	}
	// 2 inside, 3 queued, 5 shed at once.
	var shed int
	for i := 0; i < clients-5; i++ {
		resp := <-codes
		if resp == nil {
			continue
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("early answer %d Retry-After=%q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		shed++
	}
	if g.entered.Load() != 2 {
		t.Fatalf("%d requests inside the app, want 2", g.entered.Load())
	}
	close(g.release)
	for i := 0; i < 5; i++ {
		if resp := <-codes; resp == nil || resp.StatusCode != 200 {
			t.Fatalf("queued request got %v", resp)
		}
	}
	if got := counterValue(t, reg, "mitosis_shed_total"); int(got) != shed {
		t.Fatalf("mitosis_shed_total = %v, want %d", got, shed)
	}
}

// counterValue reads a counter (or a gauge) without labels from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if g := mf.GetMetric()[0].GetGauge(); g != nil {
				return g.GetValue()
			}
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestQueueTimeoutSheds(t *testing.T) {
	g := newGate()
	defer close(g.release)
	h, srv, _ := newServer(t, testConfig(1, 5, 50*time.Millisecond), g)
	go http.Get(srv.URL)
	waitFor(t, func() bool { return g.entered.Load() == 1 })
	start := time.Now()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("got %d after %s, want 503 after the 50ms queue timeout", resp.StatusCode, time.Since(start))
	}
	if h.Signal().Snapshot(time.Now()).Shed != 1 {
		t.Fatal("shed not counted in the signal")
	}
}

func TestClientLeavingQueueFreesPlace(t *testing.T) {
	g := newGate()
	defer close(g.release)
	h, srv, _ := newServer(t, testConfig(1, 1, time.Minute), g)
	go http.Get(srv.URL)
	waitFor(t, func() bool { return g.entered.Load() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	go http.DefaultClient.Do(req)
	waitFor(t, func() bool { return h.adm.queued.Load() == 1 })
	cancel()
	waitFor(t, func() bool { return h.adm.queued.Load() == 0 })
	// The freed place takes a new waiter instead of shedding it.
	done := asyncGet(srv.URL)
	waitFor(t, func() bool { return h.adm.queued.Load() == 1 })
	g.release <- struct{}{}
	g.release <- struct{}{}
	if code := <-done; code != 200 {
		t.Fatalf("request after the freed place: %d", code)
	}
}

func TestReplicaHeaderAndForwardedHeaders(t *testing.T) {
	var seen http.Header
	var mu sync.Mutex
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
	})
	for _, on := range []bool{true, false} {
		c := testConfig(4, 4, time.Second)
		c.ReplicaHeader = on
		_, srv, _ := newServer(t, c, app)
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		req.Header.Set(HopHeader, "intruder") // from a client, not a sibling: not trusted
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get(ReplicaHeader); (got == "self") != on {
			t.Fatalf("ReplicaHeader=%v: X-Mitosis-Replica = %q", on, got)
		}
		mu.Lock()
		if seen.Get(HopHeader) != "" {
			t.Fatal("hop header reached the app")
		}
		mu.Unlock()
	}

	// Without a hop, X-Forwarded-For is what mitosis saw, not what the
	// client claimed.
	_, srv, _ := newServer(t, testConfig(4, 4, time.Second), app)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if got := seen.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For = %q, want 127.0.0.1", got)
	}
	if got := seen.Get("X-Forwarded-Proto"); got != "http" {
		t.Fatalf("X-Forwarded-Proto = %q", got)
	}
}

func TestHopNeedsToken(t *testing.T) {
	c := testConfig(4, 4, time.Second)
	c.ClusterToken = "secret"
	// The sender is a sibling (httptest.NewRequest comes from 192.0.2.1):
	// the token decides.
	sibs := &fakeSiblings{Members: []pool.Member{member("peer", "192.0.2.1:8080", 4)}}
	h, err := New(c, http.NotFoundHandler(), prometheus.NewRegistry(), WithSiblings(sibs, nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		token string
		hop   bool
	}{{"", false}, {"wrong", false}, {"secret", true}}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set(HopHeader, "peer")
		if tt.token != "" {
			r.Header.Set(TokenHeader, tt.token)
		}
		if got := h.acceptHop(r); got != tt.hop {
			t.Errorf("token %q: hop = %v, want %v", tt.token, got, tt.hop)
		}
		if !tt.hop && r.Header.Get(HopHeader) != "" {
			t.Errorf("token %q: untrusted hop header left in place", tt.token)
		}
	}
}

func TestStreamingAndStatusCapture(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		for i := 0; i < 3; i++ {
			io.WriteString(w, "chunk\n")
			http.NewResponseController(w).Flush()
		}
	})
	_, srv, reg := newServer(t, testConfig(4, 4, time.Second), app)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 418 || string(b) != "chunk\nchunk\nchunk\n" || len(resp.TransferEncoding) == 0 {
		t.Fatalf("got %d %q te=%v", resp.StatusCode, b, resp.TransferEncoding)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "mitosis_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == "4xx" && m.GetHistogram().GetSampleCount() == 1 {
				return
			}
		}
	}
	t.Fatal("the 418 was not counted under code=4xx")
}

// asyncGet sends GET url in the background with the given header pairs
// (name, value, ...); the channel yields the status, 0 on a transport error.
func asyncGet(url string, header ...string) <-chan int {
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", url, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	return done
}
