package balancer

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/pool"
)

// fastReplica is a replica wired as main wires one: the h1 fast path with
// the Handler as its hooks, and net/http running the same Handler (in
// front of a reverse proxy to the app) as the fallback.
type fastReplica struct {
	h        *Handler
	s        *h1.Server
	reg      *prometheus.Registry
	addr     string
	fallback atomic.Int64 // requests the fallback server saw
}

func startFast(t testing.TB, cfg Config, appAddr string, opts ...Option) *fastReplica {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := New(cfg, appProxy(t, appAddr), reg, trustLoopback(opts)...)
	if err != nil {
		t.Fatal(err)
	}
	r := &fastReplica{h: h, reg: reg}
	fb := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.fallback.Add(1)
			h.ServeHTTP(w, req)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	fc := h1.DefaultConfig()
	fc.Upstream, fc.ReplicaID, fc.ReplicaHeader, fc.Fields = appAddr, cfg.ID, cfg.ReplicaHeader, Fields()
	s, err := h1.NewServer(fc, h, fb, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr, r.s = ln.Addr().String(), s
	done := make(chan struct{})
	go func() { _ = s.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
		}
		<-done
	})
	return r
}

// appProxy is the Handler's app as main builds it: a reverse proxy to
// appAddr passing on the X-Forwarded-* the Handler set.
func appProxy(t testing.TB, appAddr string) http.Handler {
	target := &url.URL{Scheme: "http", Host: appAddr}
	tr := NewTransport(16)
	t.Cleanup(tr.CloseIdleConnections)
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			copyForwarded(pr.Out.Header, pr.In.Header)
		},
		Transport: tr,
		ErrorLog:  discardLog,
	}
}

// echoApp answers "ok" and reports the headers the app saw on seen.
type sawHeaders struct{ xff, xfh, xfp, hop, token string }

func echoApp(t *testing.T, seen chan<- sawHeaders, delay time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			seen <- sawHeaders{
				xff: strings.Join(r.Header.Values("X-Forwarded-For"), ","), xfh: r.Header.Get("X-Forwarded-Host"),
				xfp: r.Header.Get("X-Forwarded-Proto"), hop: r.Header.Get(HopHeader), token: r.Header.Get(TokenHeader),
			}
		}
		time.Sleep(delay) // the app's work: a cost the test sets
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFastPathHopReceipt(t *testing.T) {
	seen := make(chan sawHeaders, 1)
	app := echoApp(t, seen, 0)
	sent := sawHeaders{xff: "203.0.113.7", xfh: "public.example", xfp: "https"}
	own := sawHeaders{xff: "127.0.0.1", xfh: "front.example", xfp: "http"}
	tests := []struct {
		name     string
		token    string // the receiver's ClusterToken
		hop      bool
		sendTok  string
		draining bool
		trusted  bool
		stranger bool // the replica's siblings are elsewhere than the client
	}{
		{name: "no token configured", hop: true, trusted: true},
		{name: "matching token", token: "s3cret", hop: true, sendTok: "s3cret", trusted: true},
		{name: "wrong token", token: "s3cret", hop: true, sendTok: "s3cre7"},
		{name: "missing token", token: "s3cret", hop: true},
		{name: "client request", token: "s3cret"},
		{name: "hop while draining", hop: true, draining: true, trusted: true},
		// The default: no token, and the sender is no sibling (a client
		// spoofing the hop header): nothing changes for the app.
		{name: "no token, not a sibling", hop: true, stranger: true},
		{name: "matching token, not a sibling", token: "s3cret", hop: true, sendTok: "s3cret", stranger: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(4, 10, time.Second)
			cfg.ClusterToken = tt.token
			var opts []Option
			if tt.stranger {
				opts = append(opts, WithSiblings(&fakeSiblings{Members: []pool.Member{{Key: "x-admin", ID: "x", Addr: "192.0.2.9:8080", State: pool.StateJoining}}}, nil))
			}
			r := startFast(t, cfg, hostOf(app), opts...)
			if tt.draining {
				r.h.SetDraining()
			}
			req, _ := http.NewRequest("GET", "http://"+r.addr+"/x", nil)
			req.Host = "front.example"
			req.Header.Set("X-Forwarded-For", sent.xff)
			req.Header.Set("X-Forwarded-Host", sent.xfh)
			req.Header.Set("X-Forwarded-Proto", sent.xfp)
			if tt.hop {
				req.Header.Set(HopHeader, "a")
			}
			if tt.sendTok != "" {
				req.Header.Set(TokenHeader, tt.sendTok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("status %d body %q", resp.StatusCode, body)
			}
			if s, want := <-seen, map[bool]sawHeaders{true: sent, false: own}[tt.trusted]; s != want {
				t.Errorf("app saw %+v, want %+v", s, want)
			}
			if n := r.fallback.Load(); n != 0 {
				t.Errorf("%d requests went to the net/http fallback, want the fast path", n)
			}
			v := resp.Header.Get(pool.LoadHeader)
			if !tt.trusted {
				if v != "" {
					t.Errorf("a client got %s: %q", pool.LoadHeader, v)
				}
				return
			}
			l, err := pool.ParseLoad(v)
			if err != nil {
				t.Fatalf("%s %q: %v", pool.LoadHeader, v, err)
			}
			if l.Inflight != 1 || l.Capacity != 4 || l.Draining != tt.draining {
				t.Errorf("load %+v: want inflight 1 (this request), capacity 4, draining %v", l, tt.draining)
			}
		})
	}
}

// TestFastPathHopWithoutSlotQueues: a hop that finds no free slot waits
// in this replica's queue, on the fast path; it never goes to another
// sibling.
func TestFastPathHopWithoutSlotQueues(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fast path queues on Linux only (it watches the raw socket); elsewhere the fallback queues")
	}
	app := echoApp(t, nil, 0)
	var cCount atomic.Int64
	c := startSibling(t, "c", 4, idApp("c", 0, &cCount))
	sibs := &fakeSiblings{Members: []pool.Member{member("c", hostOf(c.srv), 4)}}
	b := startFast(t, testConfig(1, 10, 5*time.Second), hostOf(app), WithSiblings(sibs, nil))
	if !b.h.TryAcquireHop() { // b's only slot
		t.Fatal("no slot")
	}
	done := asyncGet("http://"+b.addr+"/", HopHeader, "a")
	waitFor(t, func() bool { return b.h.adm.queued.Load() == 1 })
	now := time.Now()
	b.h.Done(200, now, now, now, false)
	if code := <-done; code != 200 {
		t.Fatalf("hop got %d", code)
	}
	if b.fallback.Load() != 0 || cCount.Load() != 0 {
		t.Fatalf("fallback saw %d (want 0: queued on the fast path), c saw %d (want 0: no hop loop)", b.fallback.Load(), cCount.Load())
	}
}

// TestFastPathQueue: a client request with no slot and no sibling waits
// in the queue on the fast path; a full queue and a queue timeout answer
// 503 with Retry-After, counted as shed; a client that leaves gives its
// place up at once. None of it goes to the net/http fallback.
func TestFastPathQueue(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fast path queues on Linux only (it watches the raw socket); elsewhere the fallback queues")
	}
	app := echoApp(t, nil, 0)
	b := startFast(t, testConfig(1, 1, 300*time.Millisecond), hostOf(app))
	if !b.h.TryAcquire() { // the only slot
		t.Fatal("no slot")
	}
	queued := asyncGet("http://" + b.addr + "/")
	waitFor(t, func() bool { return b.h.adm.queued.Load() == 1 })

	// The queue (1) is full: 503 at once.
	resp, err := http.Get("http://" + b.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != strconv.Itoa(b.h.cfg.RetryAfter) {
		t.Fatalf("queue full: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The queued one gets the slot when it is freed.
	now := time.Now()
	b.h.Done(200, now, now, now, false)
	if code := <-queued; code != 200 {
		t.Fatalf("queued request got %d", code)
	}

	// A queue timeout sheds too. (The queued request's slot is given back
	// after its last byte is written, which may be after the client read it.)
	waitFor(t, func() bool { return b.h.adm.inflight.Load() == 0 })
	if !b.h.TryAcquire() {
		t.Fatal("no slot")
	}
	if code := <-asyncGet("http://" + b.addr + "/"); code != 503 {
		t.Fatalf("after the queue timeout: %d, want 503", code)
	}

	// A client that leaves while queued frees its place.
	conn, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.h.adm.queued.Load() == 1 })
	conn.Close()
	waitFor(t, func() bool { return b.h.adm.queued.Load() == 0 })
	now = time.Now()
	b.h.Done(200, now, now, now, false)

	if got := counterValue(t, b.reg, "mitosis_shed_total"); got != 2 {
		t.Errorf("mitosis_shed_total = %v, want 2", got)
	}
	if n := b.fallback.Load(); n != 0 {
		t.Errorf("%d requests went to the net/http fallback, want 0", n)
	}
	if n := b.h.adm.inflight.Load(); n != 0 {
		t.Errorf("%d slots still taken, want 0", n)
	}
}

// TestForwardToFastSibling: a replica forwards its overflow to a sibling
// whose fast path serves it and reports its load, which the sender learns
// and strips.
func TestForwardToFastSibling(t *testing.T) {
	app := echoApp(t, nil, 0)
	cfgB := testConfig(4, 10, time.Second)
	cfgB.ID, cfgB.ClusterToken = "b", "tok"
	b := startFast(t, cfgB, hostOf(app))
	g := newGate()
	defer close(g.release)
	sibs := &fakeSiblings{Members: []pool.Member{member("b", b.addr, 4)}}
	cfgA := testConfig(1, 10, time.Second)
	cfgA.ID, cfgA.ClusterToken = "a", "tok"
	a := startSiblingCfg(t, cfgA, g, WithSiblings(sibs, nil))
	go http.Get(a.srv.URL) // takes a's only slot
	waitFor(t, func() bool { return g.entered.Load() == 1 })

	resp, err := http.Get(a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" || resp.Header.Get(ReplicaHeader) != "b" {
		t.Fatalf("got %d %q from %q, want 200 ok from b", resp.StatusCode, body, resp.Header.Get(ReplicaHeader))
	}
	if v := resp.Header.Get(pool.LoadHeader); v != "" {
		t.Errorf("the client saw the sibling's load %q", v)
	}
	if b.fallback.Load() != 0 {
		t.Error("b served the hop through net/http, not the fast path")
	}
	sibs.mu.Lock()
	l, ok := sibs.Loads["b-admin"]
	sibs.mu.Unlock()
	if !ok || l.Capacity != 4 {
		t.Fatalf("a learned %+v (%v) of b, want capacity 4", l, ok)
	}
}

func startSiblingCfg(t *testing.T, c Config, app http.Handler, opts ...Option) sibling {
	t.Helper()
	h, err := New(c, app, prometheus.NewRegistry(), trustLoopback(opts)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return sibling{h: h, srv: srv}
}

// newUpstreamCount serves h on a real socket and returns its host:port.
func newUpstreamCount(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return hostOf(srv)
}
