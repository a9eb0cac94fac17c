package h1

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Queueing needs the raw socket (the watcher for clients that leave);
// elsewhere the fallback server queues.

// TestQueueThenServe: a request with no slot and no sibling waits in the
// queue, then goes to the app on the fast path, and the connection stays
// on the fast path.
func TestQueueThenServe(t *testing.T) {
	up := newUpstream(t, echoApp)
	for _, tt := range []struct {
		name, raw, method string
		hop               bool
	}{
		{name: "client GET", raw: "GET /q HTTP/1.1\r\nHost: h\r\n\r\n", method: "GET"},
		{name: "client POST", raw: "POST /q HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", method: "POST"},
		{name: "hop", raw: "GET /q HTTP/1.1\r\nHost: h\r\nX-Mitosis-Hop: r2\r\n\r\n", method: "GET", hop: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, up.addr(), nil)
			p.Hooks.Deny.Store(true)
			p.Hooks.Queueing.Store(true)
			p.Hooks.Admit.Store(true)
			p.Hooks.QueueFor = 30 * time.Millisecond
			c := dialRaw(t, p.Addr)
			c.send(tt.raw)
			resp, _ := c.read(tt.method)
			if resp.StatusCode != 200 || resp.Header.Get("X-Fallback") != "" || resp.Header.Get("X-Seen-Method") != tt.method {
				t.Fatalf("queued request: %d %v; want 200 from the app on the fast path", resp.StatusCode, resp.Header)
			}
			if q := p.Hooks.Queued.Load(); q != 1 {
				t.Errorf("Queue called %d times, want 1", q)
			}
			if tt.hop && resp.Header.Get("X-Mitosis-Load") == "" {
				t.Error("a queued hop's answer has no X-Mitosis-Load")
			}
			// Done covers the wait: the request started before the queue.
			waitFor(t, "Done", func() bool { return p.Hooks.Dones.Load() == 1 })
			if got := p.Hooks.statuses(); len(got) != 1 || got[0] != 200 {
				t.Errorf("Done statuses %v, want [200]", got)
			}
			p.Hooks.mu.Lock()
			bad, waits := p.Hooks.Bad, p.Hooks.Waits
			p.Hooks.mu.Unlock()
			if len(bad) > 0 {
				t.Errorf("Done times: %v", bad)
			}
			if len(waits) != 1 || waits[0] < p.Hooks.QueueFor {
				t.Errorf("Done's start to appStart %v, want the queue's %v included", waits, p.Hooks.QueueFor)
			}
			p.Hooks.Deny.Store(false)
			c.send("GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp, _ := c.read("GET"); resp.Header.Get("X-Fallback") != "" || resp.Header.Get("X-Seen-Method") != "GET" {
				t.Errorf("next request: %v, want the fast path", resp.Header)
			}
		})
	}
}

// TestQueueShed: when the queue does not admit, the answer is 503 with
// Retry-After and the replica; keep-alive survives a bodiless request.
func TestQueueShed(t *testing.T) {
	up := newUpstream(t, echoApp)
	for _, tt := range []struct {
		name, raw, method string
		keep              bool
	}{
		{name: "GET", raw: "GET / HTTP/1.1\r\nHost: h\r\n\r\n", method: "GET", keep: true},
		{name: "HEAD", raw: "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", method: "HEAD", keep: true},
		{name: "POST with a body", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", method: "POST"},
		{name: "HTTP/1.0", raw: "GET / HTTP/1.0\r\nHost: h\r\n\r\n", method: "GET"},
		{name: "Connection: close", raw: "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", method: "GET"},
		{name: "hop", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-Mitosis-Hop: r2\r\n\r\n", method: "GET", keep: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, up.addr(), nil)
			p.Hooks.Deny.Store(true)
			p.Hooks.Queueing.Store(true)
			c := dialRaw(t, p.Addr)
			c.send(tt.raw)
			resp, body := c.read(tt.method)
			want := ShedBody
			if tt.method == "HEAD" {
				want = ""
			}
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" || resp.Header.Get("X-Mitosis-Replica") != "r1" || body != want {
				t.Fatalf("shed answer: %d %v %q", resp.StatusCode, resp.Header, body)
			}
			if n := p.Hooks.Sheds.Load(); n != 1 {
				t.Errorf("Shed called %d times, want 1", n)
			}
			if n := p.Hooks.Dones.Load(); n != 0 {
				t.Errorf("Done called %d times for a shed request, want 0", n)
			}
			if resp.Close == tt.keep {
				t.Errorf("Connection: close = %v, want %v", resp.Close, !tt.keep)
			}
			if !tt.keep {
				if !c.closed() {
					t.Error("connection open after a closing 503")
				}
				return
			}
			p.Hooks.Deny.Store(false)
			c.send("GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp, _ := c.read("GET"); resp.StatusCode != 200 || resp.Header.Get("X-Fallback") != "" {
				t.Errorf("next request: %d %v, want the fast path", resp.StatusCode, resp.Header)
			}
		})
	}
}

// TestQueueClientLeaves: a client that closes its connection while its
// request waits gives up its place at once, and gets no answer.
func TestQueueClientLeaves(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), nil)
	p.Hooks.Deny.Store(true)
	p.Hooks.Queueing.Store(true)
	p.Hooks.Admit.Store(true)
	p.Hooks.QueueFor = time.Minute
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	waitFor(t, "the request to queue", func() bool { return p.Hooks.Queued.Load() == 1 })
	c.Close()
	waitFor(t, "Queue to see the client leave", func() bool { return p.Hooks.Gone.Load() == 1 })
	// The connection's goroutine ends (and counts itself out) after any
	// answer it would give.
	waitFor(t, "the connection to end", func() bool { return p.OpenConns() == 0 })
	if n, d := p.Hooks.Sheds.Load(), p.Hooks.Dones.Load(); n != 0 || d != 0 {
		t.Errorf("after the client left: %d sheds, %d dones; want none", n, d)
	}
}

// TestQueuePipelined: bytes of a next request that arrive while the first
// waits are not taken for a hang-up, nor lost.
func TestQueuePipelined(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), nil)
	p.Hooks.Deny.Store(true)
	p.Hooks.Queueing.Store(true)
	p.Hooks.Admit.Store(true)
	p.Hooks.QueueFor = 50 * time.Millisecond
	c := dialRaw(t, p.Addr)
	c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
	waitFor(t, "the request to queue", func() bool { return p.Hooks.Queued.Load() == 1 })
	c.send("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
	for i, want := range []string{"/1", "/2"} {
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("X-Fallback") != "" {
			t.Fatalf("response %d (%s): %d %v", i+1, want, resp.StatusCode, resp.Header)
		}
	}
	if g := p.Hooks.Gone.Load(); g != 0 {
		t.Errorf("%d queue waits ended as a hang-up, want 0", g)
	}
}
