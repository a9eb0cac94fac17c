package h1

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestForwardToSibling: Route says Forward; the request goes to the
// sibling with the hop fields, over one kept-alive connection, and the
// sibling's X-Mitosis-Load goes to Forwarded, not to the client.
func TestForwardToSibling(t *testing.T) {
	type seen struct{ hop, token, xff, body string }
	got := make(chan seen, 4)
	sib := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Get("X-Mitosis-Hop"), r.Header.Get("X-Mitosis-Token"), r.Header.Get("X-Forwarded-For"), string(b)}
		w.Header().Set("X-Mitosis-Replica", "r2")
		w.Header().Set("X-Mitosis-Load", "i=2;q=0;c=4;l=10;d=0")
		_, _ = io.WriteString(w, "from r2")
	})
	app := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "local") })
	p := startProxy(t, app.addr(), nil)
	p.Hooks.Siblings = []string{sib.addr()}
	c := dialRaw(t, p.Addr)
	for i, body := range []string{"", "payload"} {
		if body == "" {
			c.send("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
		} else {
			c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n" + body)
		}
		resp, b := c.read("GET")
		if resp.StatusCode != 200 || b != "from r2" || resp.Header.Get("X-Mitosis-Replica") != "r2" {
			t.Fatalf("%d %q from %q, want 200 from r2", resp.StatusCode, b, resp.Header.Get("X-Mitosis-Replica"))
		}
		if v := resp.Header.Values("X-Mitosis-Load"); len(v) != 0 {
			t.Errorf("the client got X-Mitosis-Load %q", v)
		}
		if s := <-got; s != (seen{"r1", "tok", "127.0.0.1", body}) {
			t.Errorf("sibling saw %+v", s)
		}
		fw := p.Hooks.forwards()
		if len(fw) != i+1 || fw[i].Err != nil || fw[i].Status != 200 || string(fw[i].Load) != "i=2;q=0;c=4;l=10;d=0" || fw[i].Key != "s0" || fw[i].Body != (body != "") {
			t.Fatalf("Forwarded got %+v", fw)
		}
	}
	if n := sib.Conns.Load(); n != 1 {
		t.Errorf("%d connections to the sibling, want 1 kept alive", n)
	}
	if n := p.Hooks.Acquired.Load(); n != 0 {
		t.Errorf("%d local slots taken, want 0", n)
	}
}

// TestForwardFailures: a failed try is retried when Forwarded says so (the
// request intact: the next sibling or the app gets all of it), else 502.
func TestForwardFailures(t *testing.T) {
	app := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "local "+string(b))
	})
	tests := []struct {
		name   string
		retry  bool
		status int
		body   string
	}{
		{"retried then local", true, 200, "local payload"},
		{"not retried", false, 502, BadGatewaySiblingBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, app.addr(), nil)
			p.Hooks.Siblings = []string{deadAddr(t), deadAddr(t)}
			p.Hooks.Retry = tt.retry
			c := dialRaw(t, p.Addr)
			c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\npayload")
			resp, b := c.read("POST")
			if resp.StatusCode != tt.status || b != tt.body {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, b, tt.status, tt.body)
			}
			fw := p.Hooks.forwards()
			want := 1
			if tt.retry {
				want = 2
			}
			if len(fw) != want {
				t.Fatalf("%d tries, want %d", len(fw), want)
			}
			for _, f := range fw {
				if f.Err == nil || f.Partial || string(f.Method) != "POST" || !f.Body {
					t.Errorf("try %+v: want a dial error, nothing sent", f)
				}
			}
		})
	}
}

// TestForwardNeedsWholeBody: a body not yet all read (one above BodyBuffer,
// which streams) is never forwarded on the fast path (Route is told
// canForward=false).
func TestForwardNeedsWholeBody(t *testing.T) {
	app := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "local "+string(b))
	})
	p := startProxy(t, app.addr(), func(c *Config, _ *http.Server) { c.BodyBuffer = clientReadBuf })
	p.Hooks.Siblings = []string{deadAddr(t)}
	c := dialRaw(t, p.Addr)
	big := strings.Repeat("x", 3*clientReadBuf)
	c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big)
	if resp, b := c.read("POST"); resp.StatusCode != 200 || b != "local "+big {
		t.Fatalf("%d, %d bytes", resp.StatusCode, len(b))
	}
	if n := len(p.Hooks.forwards()); n != 0 {
		t.Fatalf("%d forwards, want 0", n)
	}
}
