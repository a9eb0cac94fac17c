package h1

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestSlowReaderGivesSlotBack: a client that does not read its response
// holds the slot only until a write to it has to wait; after WriteTimeout
// without progress its connection closes.
func TestSlowReaderGivesSlotBack(t *testing.T) {
	var big atomic.Bool
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if big.Load() {
			w.Header().Set("Content-Length", "50000000")
			chunk := make([]byte, 64<<10)
			for n := 0; n < 50000000; n += len(chunk) {
				if _, err := w.Write(chunk[:min(len(chunk), 50000000-n)]); err != nil {
					return
				}
			}
			return
		}
		_, _ = io.WriteString(w, "small")
	})
	p := startProxy(t, up.addr(), func(c *Config, _ *http.Server) { c.WriteTimeout = 500 * time.Millisecond })
	big.Store(true)
	c := dialRaw(t, p.Addr)
	c.send("GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
	waitFor(t, "the slot given back", func() bool { return p.Hooks.Releases.Load() == 1 })
	if n := p.Hooks.Dones.Load(); n != 0 {
		t.Fatalf("%d requests done while the response is still delivered", n)
	}
	// It never reads: closed after WriteTimeout, its Done says released.
	start := time.Now()
	waitFor(t, "the stalled request done", func() bool { return p.Hooks.Dones.Load() == 1 })
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("done %s after the stall, want about WriteTimeout", d)
	}
	if n := p.Hooks.Released.Load(); n != 1 {
		t.Errorf("Done said released %d times, want 1", n)
	}
	if n := p.Hooks.Releases.Load(); n != 1 {
		t.Errorf("Release called %d times, want once", n)
	}
	big.Store(false)
	other := dialRaw(t, p.Addr)
	other.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, body := other.read("GET"); body != "small" {
		t.Errorf("other client: %q", body)
	}
}
