package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawUpstream accepts connections and runs serve on each; it counts them.
type rawUpstream struct {
	ln    net.Listener
	Conns atomic.Int64
	wg    sync.WaitGroup
}

func newRawUpstream(t testing.TB, serve func(c net.Conn, br *bufio.Reader)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln}
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.Conns.Add(1)
			u.wg.Add(1)
			go func() {
				defer u.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); u.wg.Wait() })
	return u
}

func (u *rawUpstream) addr() string { return u.ln.Addr().String() }

// readReq reads one request head (bodies are not used here).
func readReq(br *bufio.Reader) error {
	req, err := http.ReadRequest(br)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return err
}

func TestCloseDelimitedResponse(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if readReq(br) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
		}
	})
	p := startProxy(t, up.addr(), nil)
	for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
		c := dialRaw(t, p.Addr)
		c.send("GET / " + proto + "\r\nHost: h\r\nConnection: keep-alive\r\n\r\n")
		resp, body := c.read("GET")
		if body != "until the end" || !resp.Close {
			t.Errorf("%s: body %q, close %v; want the whole body and Connection: close", proto, body, resp.Close)
		}
		if !c.closed() {
			t.Errorf("%s: client connection open after a close-delimited body", proto)
		}
	}
}

func TestStaleUpstreamConnIsRetried(t *testing.T) {
	// The app serves one request per connection without saying so, and
	// closes the connection when the next one arrives: the pooled
	// connection looked alive (no close had come) and fails once used.
	up := newRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if readReq(br) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			_ = readReq(br) // then closes, unanswered
		}
	})
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	for i, raw := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
	} {
		c.send(raw)
		resp, body := c.read("GET")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q, want 200 ok after a retry", i, resp.StatusCode, body)
		}
	}
	if got := up.Conns.Load(); got != 3 {
		t.Errorf("upstream connections = %d, want 3 (one per request)", got)
	}
}

func TestUpstreamDown(t *testing.T) {
	p := startProxy(t, deadAddr(t), nil)
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, body := c.read("GET")
	if resp.StatusCode != 502 || !strings.Contains(body, "bad gateway") || resp.Header.Get("X-Mitosis-Replica") != "r1" {
		t.Errorf("got %d %q %v, want a 502 naming the replica", resp.StatusCode, body, resp.Header)
	}
	if !c.closed() {
		t.Error("client connection open after a 502")
	}
	if got := p.Hooks.statuses(); len(got) != 1 || got[0] != 502 {
		t.Errorf("Done statuses %v, want [502]", got)
	}
}

func TestMalformedResponseIs502(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if readReq(br) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk")
		}
	})
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := c.read("GET"); resp.StatusCode != 502 {
		t.Errorf("status %d, want 502 for conflicting Content-Length", resp.StatusCode)
	}
}

func TestUpstreamDiesMidBody(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if readReq(br) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this")
		}
	})
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err == nil || string(body) != "only this" {
		t.Errorf("body %q err %v, want the truncated body and an error", body, err)
	}
	if got := p.Hooks.statuses(); len(got) != 1 || got[0] != 200 {
		t.Errorf("Done statuses %v, want [200]", got)
	}
}

func TestInterimResponses(t *testing.T) {
	up := newRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		if readReq(br) == nil {
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	line, _ := c.br.ReadString('\n')
	if line != "HTTP/1.1 103 Early Hints\r\n" {
		t.Fatalf("first line %q, want the 103 forwarded", line)
	}
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("final %d %q", resp.StatusCode, body)
	}
}

func TestLargeBodyStreams(t *testing.T) {
	const first, rest = 1 << 20, 7 << 20
	seen := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "8388608")
		w.Write(make([]byte, first))
		w.(http.Flusher).Flush()
		// The rest only once the client has seen the start: a proxy that
		// buffers the whole body would deadlock here and time out.
		select {
		case <-seen:
		case <-time.After(5 * time.Second):
			return
		}
		chunk := make([]byte, 64<<10)
		for n := 0; n < rest; n += len(chunk) {
			w.Write(chunk)
		}
	})
	p := startProxy(t, up.addr(), nil)
	c := dialRaw(t, p.Addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	close(seen)
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n+1000 != first+rest {
		t.Errorf("read %d bytes (%v), want %d", n+1000, err, first+rest)
	}
}

// TestLargeRequestBodyStreams: a body above BodyBuffer streams to the app
// on the fast path.
func TestLargeRequestBodyStreams(t *testing.T) {
	const size = 3 << 20
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		io.WriteString(w, strings.Repeat("k", int(n%7)))
		w.Header().Set("X-N", "x")
	})
	p := startProxy(t, up.addr(), nil)
	req, _ := http.NewRequest("POST", "http://"+p.Addr+"/", io.LimitReader(zeroReader{}, size))
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("X-Fallback") != "" {
		t.Error("served by the fallback, want the fast path")
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != strings.Repeat("k", size%7) {
		t.Errorf("app saw a body of the wrong size: %q", b)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestTimeouts(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), func(c *Config, _ *http.Server) {
		c.ReadHeaderTimeout = 100 * time.Millisecond
		c.IdleTimeout = 150 * time.Millisecond
	})
	t.Run("slow head", func(t *testing.T) {
		c := dialRaw(t, p.Addr)
		c.send("GET / HTTP/1.1\r\nHost: h\r\n")
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.br.ReadByte(); err == nil {
			t.Fatal("got a response to half a head")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("closed after %s, want about ReadHeaderTimeout", d)
		}
	})
	t.Run("idle", func(t *testing.T) {
		c := dialRaw(t, p.Addr)
		c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		c.read("GET")
		start := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.br.ReadByte(); err == nil {
			t.Fatal("unexpected byte")
		}
		if d := time.Since(start); d < 50*time.Millisecond || d > 2*time.Second {
			t.Errorf("idle connection closed after %s, want about IdleTimeout", d)
		}
	})
}
