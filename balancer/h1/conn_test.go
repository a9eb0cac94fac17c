package h1

import (
	"net/http"
	"strings"
	"testing"
)

func TestHeaders(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Connection", "X-Resp-Hop")
		h.Set("X-Resp-Hop", "1")
		h.Set("Keep-Alive", "timeout=5")
		h.Set("X-Resp-Kept", "1")
		h.Set("X-Mitosis-Replica", "app-says")
		echoApp(w, r)
	})
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: example.com:8080\r\nConnection: keep-alive, X-Foo\r\nX-Foo: hop\r\n" +
		"X-Bar: kept\r\nKeep-Alive: 300\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic x\r\nTE: trailers, deflate\r\n" +
		"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6\r\n" +
		"X-Mitosis-Token: secret\r\nX-Mitosis-Load: 1\r\n\r\n")
	resp, _ := c.read("GET")
	// Only TE: trailers, X-Bar and this proxy's X-Forwarded-* survive.
	want := "Te,X-Bar,X-Forwarded-For,X-Forwarded-Host,X-Forwarded-Proto"
	if got := resp.Header.Get("X-Seen-Headers"); got != want {
		t.Errorf("app saw headers %s\nwant %s", got, want)
	}
	for k, v := range map[string]string{"X-Seen-Xff": "127.0.0.1", "X-Seen-Xfh": "example.com:8080", "X-Seen-Xfp": "http", "X-Seen-Host": "example.com:8080", "X-Seen-Proto": "HTTP/1.1"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"X-Resp-Hop", "Keep-Alive"} {
		if _, ok := resp.Header[k]; ok {
			t.Errorf("hop-by-hop response header %s reached the client", k)
		}
	}
	if resp.Header.Get("X-Resp-Kept") != "1" {
		t.Error("end-to-end response header X-Resp-Kept lost")
	}
	if got := resp.Header.Values("X-Mitosis-Replica"); len(got) != 1 || got[0] != "r1" {
		t.Errorf("X-Mitosis-Replica = %v, want [r1]", got)
	}
}

func TestNoReplicaHeader(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), func(c *Config, _ *http.Server) { c.ReplicaHeader = false })
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, _ := c.read("GET")
	if v, ok := resp.Header["X-Mitosis-Replica"]; ok {
		t.Errorf("X-Mitosis-Replica = %v with ReplicaHeader off", v)
	}
}

func TestConnectionLifetime(t *testing.T) {
	closeApp := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		echoApp(w, r)
	}
	tests := []struct {
		name       string
		raw        string
		wantClosed bool
		wantConnHd string
		wantBody   string
		wantUpConn int64 // upstream connections after two requests
	}{
		{name: "1.1 default keep-alive", raw: "GET / HTTP/1.1\r\nHost: h\r\n\r\n", wantBody: "hello ", wantUpConn: 1},
		{name: "1.1 Connection: close", raw: "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", wantClosed: true, wantConnHd: "close", wantBody: "hello ", wantUpConn: 1},
		{name: "1.0 default close", raw: "GET / HTTP/1.0\r\n\r\n", wantClosed: true, wantConnHd: "close", wantBody: "hello ", wantUpConn: 1},
		{name: "1.0 keep-alive", raw: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", wantConnHd: "keep-alive", wantBody: "hello ", wantUpConn: 1},
		{name: "1.0 chunked response decoded", raw: "GET /?chunked=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", wantClosed: true, wantConnHd: "close", wantBody: "part0;part1;part2;", wantUpConn: 1},
		{name: "app Connection: close", raw: "GET /close HTTP/1.1\r\nHost: h\r\n\r\n", wantBody: "hello ", wantUpConn: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, closeApp)
			p := startProxy(t, up.addr(), nil)
			for i := 0; i < 2; i++ {
				c := dialRaw(t, p.Addr)
				c.send(tt.raw)
				resp, body := c.read("GET")
				if body != tt.wantBody {
					t.Errorf("body %q, want %q", body, tt.wantBody)
				}
				got := resp.Header.Get("Connection")
				if resp.Close {
					got = "close" // ReadResponse moves it to Close
				}
				if got != tt.wantConnHd {
					t.Errorf("Connection: %q, want %q", got, tt.wantConnHd)
				}
				if got := c.closed(); got != tt.wantClosed {
					t.Errorf("client connection closed = %v, want %v", got, tt.wantClosed)
				}
			}
			if got := up.Conns.Load(); got != tt.wantUpConn {
				t.Errorf("upstream connections = %d, want %d", got, tt.wantUpConn)
			}
		})
	}
}

func TestHTTP10NoHostGetsUpstreamHost(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.0\r\n\r\n")
	resp, _ := c.read("GET")
	if got := resp.Header.Get("X-Seen-Host"); got != up.addr() {
		t.Errorf("app saw Host %q, want the upstream address %q", got, up.addr())
	}
	if got := resp.Header.Get("X-Seen-Xfh"); got != "" {
		t.Errorf("X-Forwarded-Host = %q without a client Host, want none", got)
	}
}

func TestKeepAlivesDisabled(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), nil)
	idle := dialRaw(t, p.Addr)
	idle.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	idle.read("GET")
	p.SetKeepAlivesEnabled(false)
	if !idle.closed() {
		t.Error("idle connection still open after SetKeepAlivesEnabled(false)")
	}
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, _ := c.read("GET")
	if !resp.Close || !c.closed() {
		t.Error("want Connection: close and a closed connection while keep-alives are off")
	}
	p.SetKeepAlivesEnabled(true)
	c = dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := c.read("GET"); resp.Close {
		t.Error("Connection: close after keep-alives were enabled again")
	}
}

func TestPipelined(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	c.send(strings.Repeat("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok", 3))
	for i := 0; i < 3; i++ {
		if _, body := c.read("POST"); body != "hello ok" {
			t.Fatalf("response %d: %q", i, body)
		}
	}
}
