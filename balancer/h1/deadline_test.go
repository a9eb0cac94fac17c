package h1

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// closedWithin reads from c until the server closes it, and reports how
// long that took; the test fails if it does not within limit.
func closedWithin(t *testing.T, c *rawConn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c.br)
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		t.Fatalf("connection still open after %s", limit)
	}
	return time.Since(start)
}

// TestSilentConnectionHeadTimeout: a client that connects and sends
// nothing, or dribbles a head, is gone ReadHeaderTimeout after accept,
// however long the idle timeout is (issue 12, item 6).
func TestSilentConnectionHeadTimeout(t *testing.T) {
	up := newUpstream(t, echoApp)
	for _, mode := range []string{"fast path", "no upstream"} {
		p := startProxy(t, up.addr(), func(c *Config, fb *http.Server) {
			if mode == "no upstream" {
				c.Upstream = ""
				fb.ReadHeaderTimeout = 200 * time.Millisecond
			}
			c.ReadHeaderTimeout = 200 * time.Millisecond
			c.IdleTimeout = time.Hour
		})
		t.Run(mode+"/silent", func(t *testing.T) {
			c := dialRaw(t, p.Addr)
			if d := closedWithin(t, c, 5*time.Second); d > 3*time.Second {
				t.Errorf("closed after %s", d)
			}
		})
		t.Run(mode+"/dribble", func(t *testing.T) {
			c := dialRaw(t, p.Addr)
			start := time.Now()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := c.Write([]byte("GET / HTTP/1.1\r\nX: "[i%19 : i%19+1])); err != nil {
							return
						}
					}
				}
			}()
			closedWithin(t, c, 5*time.Second)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("a dribbling client kept its connection %s", d)
			}
		})
	}
}

// TestSlowBodyHoldsNoSlot: a request that announces a body and sends it
// slowly or never takes no slot while it is read, and is answered 408
// after BodyTimeout without progress.
func TestSlowBodyHoldsNoSlot(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), func(c *Config, _ *http.Server) { c.BodyTimeout = 300 * time.Millisecond })
	c := dialRaw(t, p.Addr)
	c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nonly a part")
	// Another client is served meanwhile, and only it took a slot.
	other := dialRaw(t, p.Addr)
	other.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := other.read("GET"); resp.StatusCode != 200 {
		t.Fatalf("other client: %d", resp.StatusCode)
	}
	if n := p.Hooks.Acquired.Load(); n != 1 {
		t.Errorf("%d slots taken, want 1 (the slow body holds none)", n)
	}
	resp, _ := c.read("POST")
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("slow body: %d (close %v), want 408 and close", resp.StatusCode, resp.Close)
	}
	if n := p.Hooks.Acquired.Load(); n != 1 {
		t.Errorf("%d slots taken after the timeout, want 1", n)
	}
}

// TestBodyTimeoutIsBetweenReads: a body that keeps coming, if slowly, is
// not cut off by BodyTimeout: it bounds the wait between two reads.
func TestBodyTimeoutIsBetweenReads(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), func(c *Config, _ *http.Server) { c.BodyTimeout = 300 * time.Millisecond })
	c := dialRaw(t, p.Addr)
	c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
	for i := 0; i < 10; i++ {
		// 10 × 100 ms: the whole body takes over 3 BodyTimeouts.
		time.Sleep(100 * time.Millisecond) // the pace of a slow client, not a wait for an event
		c.send("x")
	}
	resp, body := c.read("POST")
	if resp.StatusCode != 200 || body != "hello xxxxxxxxxx" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}
