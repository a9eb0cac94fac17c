package h1

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mitosis-run/mitosis/pool"
)

// TestHopReceipt: a sibling's hop is served on the fast path when trusted,
// with the X-Forwarded-* the sender set and X-Mitosis-Load on the answer;
// an untrusted one is an ordinary client request.
func TestHopReceipt(t *testing.T) {
	type seen struct{ xff, xfh, xfp, hop, token string }
	got := make(chan seen, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got <- seen{
			xff: strings.Join(r.Header.Values("X-Forwarded-For"), ","), xfh: r.Header.Get("X-Forwarded-Host"),
			xfp: r.Header.Get("X-Forwarded-Proto"), hop: r.Header.Get("X-Mitosis-Hop"), token: r.Header.Get("X-Mitosis-Token"),
		}
		// An app's own load header must not reach the sibling beside ours.
		w.Header().Set("X-Mitosis-Load", "i=99;q=99;c=99;l=99;d=1")
		_, _ = io.WriteString(w, "ok")
	})
	const fwd = "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: public.example\r\nX-Forwarded-Proto: https\r\n"
	sent := seen{xff: "203.0.113.7", xfh: "public.example", xfp: "https"}
	own := seen{xff: "127.0.0.1", xfh: "h", xfp: "http"}
	tests := []struct {
		name    string
		token   string // the receiver's cluster token
		headers string
		trusted bool
	}{
		{name: "no token configured", headers: "X-Mitosis-Hop: r2\r\n" + fwd, trusted: true},
		{name: "matching token", token: "s3cret", headers: "X-Mitosis-Hop: r2\r\nX-Mitosis-Token: s3cret\r\n" + fwd, trusted: true},
		{name: "wrong token", token: "s3cret", headers: "X-Mitosis-Hop: r2\r\nX-Mitosis-Token: guess\r\n" + fwd},
		{name: "missing token", token: "s3cret", headers: "X-Mitosis-Hop: r2\r\n" + fwd},
		{name: "no hop header", headers: fwd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, up.addr(), nil)
			p.Hooks.Token = tt.token
			c := dialRaw(t, p.Addr)
			for i := 0; i < 2; i++ { // twice: the connection stays fast
				c.send("GET /x HTTP/1.1\r\nHost: h\r\n" + tt.headers + "\r\n")
				resp, body := c.read("GET")
				if resp.StatusCode != 200 || body != "ok" || resp.Header.Get("X-Fallback") != "" {
					t.Fatalf("status %d body %q fallback %q", resp.StatusCode, body, resp.Header.Get("X-Fallback"))
				}
				s := <-got
				want := own
				if tt.trusted {
					want = sent
				}
				if s != want {
					t.Errorf("app saw %+v, want %+v", s, want)
				}
				loads := resp.Header.Values(pool.LoadHeader)
				if !tt.trusted {
					if len(loads) != 1 || loads[0] != "i=99;q=99;c=99;l=99;d=1" {
						t.Errorf("client response X-Mitosis-Load = %q, want the app's own", loads)
					}
					continue
				}
				if len(loads) != 1 {
					t.Fatalf("X-Mitosis-Load = %q, want exactly ours", loads)
				}
				l, err := pool.ParseLoad(loads[0])
				if err != nil || l.Inflight != 1 || l.Capacity != 8 {
					t.Errorf("X-Mitosis-Load %q: %+v, %v", loads[0], l, err)
				}
			}
			wantHops := int64(0)
			if tt.trusted {
				wantHops = 2
			}
			if n := p.Hooks.Hops.Load(); n != wantHops {
				t.Errorf("%d slots taken as hops, want %d", n, wantHops)
			}
		})
	}
}

// TestHopAppendLoadNoAlloc: writing the load header costs no allocation
// once the connection's buffers exist.
func TestHopAppendLoadNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	up := helloUpstream(t)
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	req := []byte("GET / HTTP/1.1\r\nHost: h\r\nX-Mitosis-Hop: r2\r\n\r\n")
	c.send(string(req))
	c.read("GET")
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := readHeadRaw(c.br); err != nil {
			t.Fatal(err)
		}
		if _, err := c.br.Discard(13); err != nil {
			t.Fatal(err)
		}
	})
	// The client side of this test allocates nothing either; the server's
	// goroutine is counted too (AllocsPerRun reads global stats).
	if allocs > 0 {
		t.Errorf("%.1f allocations per hop request, want 0", allocs)
	}
}
