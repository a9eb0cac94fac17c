package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/wait"
)

// fakeHooks counts slots; Deny makes TryAcquire and TryAcquireHop fail.
// A hop is trusted when Token is empty or matches.
type fakeHooks struct {
	Deny     atomic.Bool
	Token    string
	Acquired atomic.Int64
	Hops     atomic.Int64 // slots taken by TryAcquireHop

	// Queueing makes Route answer Queue instead of Handoff when it has
	// no slot. Queue admits after QueueFor when Admit is set, and
	// otherwise fails after QueueFor; closing gone ends it at once.
	Queueing atomic.Bool
	Admit    atomic.Bool
	QueueFor time.Duration
	Queued   atomic.Int64
	Gone     atomic.Int64 // Queue calls ended by gone
	Sheds    atomic.Int64

	// Siblings, when set, are forwarded to in order (key "s0", "s1"...)
	// while Route is asked with canForward; Retry makes Forwarded retry
	// every failed try.
	Siblings []string
	Retry    bool
	Forwards []ForwardResult // copies, slices included
	Dones    atomic.Int64
	Releases atomic.Int64 // Release calls
	Released atomic.Int64 // Done calls that said released

	mu       sync.Mutex
	Statuses []int
	Waits    []time.Duration // appStart - start of each Done
	Bad      []string        // Done calls with inconsistent times
}

func (h *fakeHooks) TryAcquire() bool {
	if h.Deny.Load() {
		return false
	}
	h.Acquired.Add(1)
	return true
}

// Route forwards to Siblings in order while the body is buffered, else
// takes a slot, else queues (Queueing) or hands off. A hop is trusted
// when Token is empty or matches; a trusted hop takes a slot or queues.
func (h *fakeHooks) Route(r *Request) Route {
	if r.Hop && (h.Token == "" || string(r.Token) == h.Token) {
		if h.tryAcquireHop() {
			return Route{Decision: Local, Hop: true}
		}
		return Route{Decision: Queue, Hop: true}
	}
	if r.CanForward && len(r.Tried) < len(h.Siblings) {
		return Route{Decision: Forward, Addr: h.Siblings[len(r.Tried)], Key: "s" + string(rune('0'+len(r.Tried)))}
	}
	if h.TryAcquire() {
		return Route{Decision: Local}
	}
	if r.CanForward && h.Queueing.Load() {
		return Route{Decision: Queue}
	}
	return Route{Decision: Handoff}
}

func (h *fakeHooks) Queue(gone <-chan struct{}) bool {
	h.Queued.Add(1)
	select {
	case <-gone:
		h.Gone.Add(1)
		return false
	case <-time.After(h.QueueFor):
	}
	if h.Admit.Load() {
		h.Acquired.Add(1)
		return true
	}
	return false
}

func (h *fakeHooks) Finish(o *Outcome) bool {
	switch o.Kind {
	case Shed:
		h.Sheds.Add(1)
		o.RetryAfter = "7"
		return false
	case Forwarded:
		return h.forwarded(&o.Forward)
	}
	h.Dones.Add(1)
	if o.Released {
		h.Released.Add(1)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Statuses = append(h.Statuses, o.Status)
	h.Waits = append(h.Waits, o.AppStart.Sub(o.Start))
	if o.AppStart.Before(o.Start) || o.End.Before(o.AppStart) {
		h.Bad = append(h.Bad, "times out of order")
	}
	return false
}

func (h *fakeHooks) forwarded(r *ForwardResult) bool {
	c := *r
	c.Method = append([]byte(nil), r.Method...)
	c.Load = append([]byte(nil), r.Load...)
	h.mu.Lock()
	h.Forwards = append(h.Forwards, c)
	h.mu.Unlock()
	if r.TryStart.Before(r.Start) || r.End.Before(r.TryStart) {
		h.mu.Lock()
		h.Bad = append(h.Bad, "forward times out of order")
		h.mu.Unlock()
	}
	return h.Retry && r.Err != nil && !r.Partial
}

func (h *fakeHooks) forwards() []ForwardResult {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]ForwardResult(nil), h.Forwards...)
}

func (h *fakeHooks) AppendHop(dst []byte) []byte {
	return append(dst, "X-Mitosis-Hop: r1\r\nX-Mitosis-Token: tok\r\n"...)
}

func (h *fakeHooks) tryAcquireHop() bool {
	if h.Deny.Load() {
		return false
	}
	h.Hops.Add(1)
	h.Acquired.Add(1)
	return true
}

// AppendLoad writes a fixed figure: what h1 does with it is under test.
func (h *fakeHooks) AppendLoad(dst []byte) []byte {
	return append(dst, "i=1;q=0;c=8;l=100;d=0"...)
}

func (h *fakeHooks) Release() { h.Releases.Add(1) }

func (h *fakeHooks) statuses() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.Statuses...)
}

// upstream is an httptest server that counts the connections it accepted.
type upstream struct {
	*httptest.Server
	Conns atomic.Int64
}

func newUpstream(t testing.TB, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewUnstartedServer(h)
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.Conns.Add(1)
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) addr() string { return strings.TrimPrefix(u.URL, "http://") }

// proxy is a running Server with its fallback, which tags its responses
// with X-Fallback: yes and echoes method, path and body.
type proxy struct {
	*Server
	Addr  string
	Hooks *fakeHooks
}

func fallbackHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Fallback", "yes")
	body, _ := io.ReadAll(r.Body)
	_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+string(body))
}

// testFields are the private fields of the tests: mitosis's names (the
// balancer passes those; h1 knows none of its own).
var testFields = Fields{Prefix: "X-Mitosis-", Hop: "X-Mitosis-Hop", Token: "X-Mitosis-Token", Load: "X-Mitosis-Load", Replica: "X-Mitosis-Replica"}

var testNames = newFieldNames(testFields)

func startProxy(t testing.TB, upstreamAddr string, tune func(*Config, *http.Server)) *proxy {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Upstream = upstreamAddr
	cfg.ReplicaID = "r1"
	cfg.Fields, cfg.ReplicaHeader = testFields, true
	fb := &http.Server{Handler: http.HandlerFunc(fallbackHandler), ReadHeaderTimeout: 5 * time.Second}
	if tune != nil {
		tune(&cfg, fb)
	}
	hooks := &fakeHooks{}
	s, err := NewServer(cfg, hooks, fb, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		<-served
		// Close does not wait for the connections' goroutines to finish.
		wait.Until(2*time.Second, 10*time.Millisecond, func() bool { return hooks.Acquired.Load() == hooks.Dones.Load() })
		if n, d := hooks.Acquired.Load(), hooks.Dones.Load(); n != d {
			t.Errorf("TryAcquire true %d times, Done %d times", n, d)
		}
		if len(hooks.Bad) > 0 {
			t.Errorf("Done: %v", hooks.Bad)
		}
	})
	return &proxy{Server: s, Addr: ln.Addr().String(), Hooks: hooks}
}

// deadAddr is an address nobody listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// rawConn is a client connection written to by hand.
type rawConn struct {
	t testing.TB
	net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, Conn: c, br: bufio.NewReader(c)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response to a request with method and its whole body.
func (c *rawConn) read(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	resp.Body.Close()
	return resp, string(body)
}

// closed reports whether the server closed the connection (EOF or reset
// soon; an open connection costs the test 200ms).
func (c *rawConn) closed() bool {
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err := c.br.ReadByte()
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

func shutdownCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dialRawErr(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return c, err
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !wait.Until(5*time.Second, 2*time.Millisecond, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}
