package h1

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMaxConns: above MaxConns a new connection gets a fast 503 and is
// closed; once one closes, new ones are served again.
func TestMaxConns(t *testing.T) {
	up := newUpstream(t, echoApp)
	for _, mode := range []string{"fast path", "no upstream"} {
		t.Run(mode, func(t *testing.T) {
			p := startProxy(t, up.addr(), func(c *Config, _ *http.Server) {
				c.MaxConns = 2
				if mode == "no upstream" {
					c.Upstream = ""
				}
			})
			a, b := dialRaw(t, p.Addr), dialRaw(t, p.Addr)
			for _, c := range []*rawConn{a, b} {
				c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
				if resp, _ := c.read("GET"); resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			start := time.Now()
			over := dialRaw(t, p.Addr)
			resp, body := over.read("GET")
			if resp.StatusCode != 503 || !resp.Close || body != ConnsBody || resp.Header.Get("Retry-After") == "" {
				t.Errorf("over the limit: %d %q close=%v", resp.StatusCode, body, resp.Close)
			}
			if !over.closed() {
				t.Error("refused connection left open")
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("refused after %s, want at once", d)
			}
			if n := p.RefusedConns(); n != 1 {
				t.Errorf("RefusedConns = %d, want 1", n)
			}
			a.Close()
			waitFor(t, "a connection slot freed", func() bool { return p.OpenConns() == 1 })
			c := dialRaw(t, p.Addr)
			c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp, body := c.read("GET"); resp.StatusCode != 200 || strings.Contains(body, "too many") {
				t.Errorf("after a close: %d %q", resp.StatusCode, body)
			}
		})
	}
}

func TestCheckFileLimit(t *testing.T) {
	limit, ok := fileLimit()
	if !ok {
		t.Skip("no RLIMIT_NOFILE here")
	}
	if err := CheckFileLimit(10, 10, 10); err != nil && limit > 2000 {
		t.Errorf("a small replica does not fit %d files: %v", limit, err)
	}
	err := CheckFileLimit(int(limit), 100, 100)
	if err == nil || !strings.Contains(err.Error(), "MITOSIS_MAX_CONNS") {
		t.Errorf("a replica above the limit: %v, want an error naming MITOSIS_MAX_CONNS", err)
	}
}
