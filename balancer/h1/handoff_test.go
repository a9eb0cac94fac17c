package h1

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHandoff(t *testing.T) {
	up := newUpstream(t, echoApp)
	tests := []struct {
		name     string
		deny     bool
		raw      string
		status   int
		body     string // the fallback echoes "METHOD URI BODY"
		fallback bool
	}{
		{name: "no slot GET", deny: true, raw: "GET /x?y=1 HTTP/1.1\r\nHost: h\r\n\r\n", status: 200, body: "GET /x?y=1 ", fallback: true},
		{name: "no slot POST", deny: true, raw: "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world", status: 200, body: "POST /p hello world", fallback: true},
		{name: "no slot chunked POST", deny: true, raw: "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", status: 200, body: "POST /p hello", fallback: true},
		{name: "chunked POST", raw: "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", status: 200, body: "POST /p hello", fallback: true},
		{name: "body above the read buffer", raw: "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 9000\r\n\r\n" + strings.Repeat("b", 9000), status: 200, body: "POST /p " + strings.Repeat("b", 9000), fallback: true},
		{name: "upgrade", raw: "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", status: 200, body: "GET /ws ", fallback: true},
		{name: "expect", raw: "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", status: 200, body: "POST /e hi", fallback: true},
		{name: "absolute URI", raw: "GET http://h/abs HTTP/1.1\r\nHost: h\r\n\r\n", status: 200, body: "GET /abs ", fallback: true},
		{name: "OPTIONS *", raw: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", status: 200}, // answered by net/http itself
		{name: "garbage", raw: "\x01\x02 nonsense\r\n\r\n", status: 400},
		{name: "bad header", raw: "GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n", status: 400},
		{name: "missing Host", raw: "GET / HTTP/1.1\r\n\r\n", status: 400},
		{name: "two Content-Length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", status: 400},
		{name: "huge header", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("b", 20000) + "\r\n\r\n", status: 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t, up.addr(), func(_ *Config, fb *http.Server) { fb.MaxHeaderBytes = 4096 })
			c := dialRaw(t, p.Addr)
			// A fast request first, then the one under test on the same
			// connection: the handoff must happen mid-connection.
			c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			if resp, _ := c.read("GET"); resp.Header.Get("X-Fallback") != "" {
				t.Fatal("first request went to the fallback")
			}
			p.Hooks.Deny.Store(tt.deny)
			c.send(tt.raw)
			resp, err := http.ReadResponse(c.br, nil)
			if err == nil && resp.StatusCode == 100 {
				resp, err = http.ReadResponse(c.br, nil) // after Expect: 100-continue
			}
			if err != nil {
				t.Fatal(err)
			}
			// An error answer may be cut short by net/http's close.
			b, _ := io.ReadAll(resp.Body)
			body := string(b)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, tt.status, body)
			}
			if tt.fallback {
				if resp.Header.Get("X-Fallback") != "yes" {
					t.Fatalf("not served by the fallback: %v", resp.Header)
				}
				if tt.body != "" && body != tt.body {
					t.Errorf("fallback saw %q, want %q", body, tt.body)
				}
				// The connection stays with the fallback from now on.
				p.Hooks.Deny.Store(false)
				c.send("GET /after HTTP/1.1\r\nHost: h\r\n\r\n")
				if resp, body := c.read("GET"); resp.Header.Get("X-Fallback") != "yes" || body != "GET /after " {
					t.Errorf("next request: %q %v, want the fallback", body, resp.Header)
				}
			}
			if got := p.Hooks.Acquired.Load(); got != 1 {
				t.Errorf("fast requests = %d, want 1", got)
			}
		})
	}
}

func TestShutdownWaitsForInflight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		echoApp(w, r)
	})
	p := startProxy(t, up.addr(), nil)
	idle := dialRaw(t, p.Addr)
	idle.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	idle.read("GET")

	c := dialRaw(t, p.Addr)
	c.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(shutdownCtx(t)) }()
	if !idle.closed() {
		t.Error("idle connection still open during Shutdown")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	resp, body := c.read("GET")
	if resp.StatusCode != 200 || body != "hello " || !resp.Close {
		t.Errorf("in-flight request: %d %q close=%v, want it answered with Connection: close", resp.StatusCode, body, resp.Close)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the request finished")
	}
	if _, err := dialRawErr(p.Addr); err == nil {
		t.Error("listener still accepting after Shutdown")
	}
}

func TestShutdownDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the context's deadline", err)
	}
}

func TestDoneOncePerFastRequest(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	paths := []string{"/", "/?status=404", "/?status=204", "/?chunked=1"}
	for _, path := range paths {
		c.send("GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n")
		c.read("GET")
	}
	p.Hooks.Deny.Store(true)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	c.read("GET")
	got := p.Hooks.statuses()
	want := []int{200, 404, 204, 200}
	if len(got) != len(want) {
		t.Fatalf("Done statuses %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Done statuses %v, want %v", got, want)
		}
	}
}
