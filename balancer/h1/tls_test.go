package h1

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/certs/certtest"
)

// testHandshaker shakes hands with a self-signed certificate for
// "a.example", within a second, and counts the handshakes that worked.
type testHandshaker struct {
	cfg *tls.Config
	ok  atomic.Int64
}

func (h *testHandshaker) Handshake(c net.Conn) (*tls.Conn, error) {
	tc := tls.Server(c, h.cfg)
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	h.ok.Add(1)
	return tc, nil
}

// tlsProxy is a proxy whose Server also serves a TLS listener.
type tlsProxy struct {
	*proxy
	TLSAddr string
	roots   *x509.CertPool
	hs      *testHandshaker
}

const testHSTS = "max-age=600"

// startTLSProxy starts a proxy (startProxy) and serves a TLS listener on
// the same Server, with HSTS; the fallback's answers say whether net/http
// saw TLS (X-Fallback-TLS) and in which protocol (X-Fallback-Proto).
func startTLSProxy(t testing.TB, upstreamAddr string, tune func(*Config, *http.Server)) *tlsProxy {
	t.Helper()
	p := startProxy(t, upstreamAddr, func(c *Config, fb *http.Server) {
		fb.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Fallback-TLS", fmt.Sprint(r.TLS != nil))
			w.Header().Set("X-Fallback-Proto", r.Proto)
			fallbackHandler(w, r)
		})
		if tune != nil {
			tune(c, fb)
		}
	})
	cert, roots, err := certtest.New(time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "a.example")
	if err != nil {
		t.Fatal(err)
	}
	hs := &testHandshaker{cfg: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.ServeTLS(ln, TLS{Handshaker: hs, HSTS: testHSTS}) }()
	t.Cleanup(func() {
		_ = p.Close()
		if err := <-served; err != http.ErrServerClosed {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return &tlsProxy{proxy: p, TLSAddr: ln.Addr().String(), roots: roots, hs: hs}
}

// dialTLS is a raw client connection over TLS offering protos by ALPN
// (none: no ALPN).
func (p *tlsProxy) dialTLS(t *testing.T, protos ...string) *rawConn {
	t.Helper()
	c, err := tls.Dial("tcp", p.TLSAddr, &tls.Config{RootCAs: p.roots, ServerName: "a.example", NextProtos: protos})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, Conn: c, br: bufio.NewReader(c)}
}

// client is an HTTP client of the TLS listener; h2 offers HTTP/2.
func (p *tlsProxy) client(h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots, ServerName: "a.example"}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestTLSFastPath: HTTP/1.1 over TLS (by ALPN or without ALPN) is served
// by the fast path: keep-alive, pipelining, chunked answers; the app sees
// X-Forwarded-Proto: https and every answer carries HSTS. The plain
// listener of the same Server still says http and sends no HSTS.
func TestTLSFastPath(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startTLSProxy(t, up.addr(), nil)
	for _, protos := range [][]string{{"http/1.1"}, nil} {
		c := p.dialTLS(t, protos...)
		if got := c.Conn.(*tls.Conn).ConnectionState().NegotiatedProtocol; len(protos) > 0 && got != "http/1.1" {
			t.Fatalf("ALPN %v negotiated %q", protos, got)
		}
		// Keep-alive: three requests on one connection, the last chunked.
		for i, path := range []string{"/a", "/b", "/c?chunked=1"} {
			c.send("GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n")
			resp, body := c.read("GET")
			if resp.StatusCode != 200 || resp.Header.Get("X-Fallback") != "" || resp.Close {
				t.Fatalf("ALPN %v, request %d: %d %v; want 200 from the fast path, kept alive", protos, i, resp.StatusCode, resp.Header)
			}
			if xfp := resp.Header.Get("X-Seen-Xfp"); xfp != "https" {
				t.Errorf("the app saw X-Forwarded-Proto %q, want https", xfp)
			}
			if h := resp.Header.Get("Strict-Transport-Security"); h != testHSTS {
				t.Errorf("HSTS %q, want %q", h, testHSTS)
			}
			if i == 2 && (body != "part0;part1;part2;" || len(resp.TransferEncoding) == 0) {
				t.Errorf("chunked answer: %q %v", body, resp.TransferEncoding)
			}
		}
	}
	// Pipelining: three requests in one write, three answers in order.
	c := p.dialTLS(t, "http/1.1")
	c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: h\r\n\r\n")
	for _, want := range []string{"hello ", "hello abc", "hello "} {
		resp, body := c.read("GET")
		if resp.StatusCode != 200 || body != want || resp.Header.Get("X-Fallback") != "" {
			t.Fatalf("pipelined: %d %q %v; want %q from the fast path", resp.StatusCode, body, resp.Header, want)
		}
	}
	// Done follows the last byte of each answer.
	waitFor(t, "9 requests done on the fast path", func() bool { return p.Hooks.Dones.Load() == 9 })
	// The plain listener is unchanged.
	plain := dialRaw(t, p.Addr)
	plain.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := plain.read("GET"); resp.Header.Get("X-Seen-Xfp") != "http" || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("plain: X-Forwarded-Proto %q, HSTS %q; want http and none", resp.Header.Get("X-Seen-Xfp"), resp.Header.Get("Strict-Transport-Security"))
	}
	if n := p.hs.ok.Load(); n != 3 {
		t.Errorf("%d handshakes, want 3", n)
	}
}

// TestTLSHandoff: what the fast path does not serve goes to net/http with
// the rest of the TLS connection, and net/http knows it is TLS; framing
// it must refuse is refused as on plain connections.
func TestTLSHandoff(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startTLSProxy(t, up.addr(), nil)
	cases := []struct {
		name, raw, method, body string
		status                  int
	}{
		{"chunked body", "POST /ch HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "POST", "POST /ch abc", 200},
		{"upgrade", "GET /u HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n", "GET", "GET /u ", 200},
		{"smuggling: CL and TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", "POST", "", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := p.dialTLS(t, "http/1.1")
			c.send(tc.raw)
			resp, body := c.read(tc.method)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %q, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status != 200 {
				if !c.closed() {
					t.Error("connection open after a refused head")
				}
				return
			}
			if body != tc.body || resp.Header.Get("X-Fallback-TLS") != "true" || resp.Header.Get("X-Fallback-Proto") != "HTTP/1.1" {
				t.Errorf("%q %v; want %q from net/http with r.TLS", body, resp.Header, tc.body)
			}
		})
	}
	if n := p.Hooks.Acquired.Load(); n != 0 {
		t.Errorf("%d fast slots taken, want 0", n)
	}
}

// TestTLSHTTP2: a client that negotiates h2 is served by the fallback
// over HTTP/2, and its connection counts against MaxConns until it closes.
func TestTLSHTTP2(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startTLSProxy(t, up.addr(), nil)
	cl := p.client(true)
	for i := 0; i < 2; i++ {
		resp, err := cl.Get("https://" + p.TLSAddr + "/h2")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.Header.Get("X-Fallback-Proto") != "HTTP/2.0" || resp.Header.Get("X-Fallback-TLS") != "true" {
			t.Fatalf("%s %v; want HTTP/2 from net/http with r.TLS", resp.Proto, resp.Header)
		}
	}
	if n := p.OpenConns(); n != 1 {
		t.Errorf("OpenConns = %d with one HTTP/2 connection, want 1", n)
	}
	cl.CloseIdleConnections()
	waitFor(t, "the HTTP/2 connection counted out", func() bool { return p.OpenConns() == 0 })
	// An HTTP/1.1-only client of the same listener takes the fast path.
	resp, err := p.client(false).Get("https://" + p.TLSAddr + "/h1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.Header.Get("X-Fallback") != "" || resp.Header.Get("X-Seen-Xfp") != "https" {
		t.Errorf("HTTP/1.1 client: %s %v; want the fast path", resp.Proto, resp.Header)
	}
	waitFor(t, "the request done on the fast path", func() bool { return p.Hooks.Dones.Load() == 1 })
}

// TestTLSDeadlines: over TLS as over plain TCP, a client that does not
// finish its head is gone after ReadHeaderTimeout, a body that stops gets
// 408 after BodyTimeout without holding a slot, and one that never
// completes its handshake is gone after the handshake's deadline.
func TestTLSDeadlines(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startTLSProxy(t, up.addr(), func(c *Config, _ *http.Server) {
		c.ReadHeaderTimeout = 300 * time.Millisecond
		c.BodyTimeout = 300 * time.Millisecond
		c.IdleTimeout = time.Hour
	})
	t.Run("slowloris", func(t *testing.T) {
		c := p.dialTLS(t, "http/1.1")
		c.send("GET / HTTP/1.1\r\nHost: h\r\nX-A: ")
		if d := closedWithin(t, c, 5*time.Second); d > 3*time.Second {
			t.Errorf("closed after %s", d)
		}
	})
	t.Run("silent after handshake", func(t *testing.T) {
		c := p.dialTLS(t, "http/1.1")
		if d := closedWithin(t, c, 5*time.Second); d > 3*time.Second {
			t.Errorf("closed after %s", d)
		}
	})
	t.Run("no handshake", func(t *testing.T) {
		c := dialRaw(t, p.TLSAddr)
		if d := closedWithin(t, c, 5*time.Second); d > 3*time.Second {
			t.Errorf("closed after %s", d)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		c := p.dialTLS(t, "http/1.1")
		c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nonly a part")
		resp, _ := c.read("POST")
		if resp.StatusCode != http.StatusRequestTimeout || !resp.Close || resp.Header.Get("Strict-Transport-Security") != testHSTS {
			t.Errorf("slow body: %d (close %v) %v, want 408, close and HSTS", resp.StatusCode, resp.Close, resp.Header)
		}
		if n := p.Hooks.Acquired.Load(); n != 0 {
			t.Errorf("%d slots taken, want 0", n)
		}
	})
	waitFor(t, "every connection counted out", func() bool { return p.OpenConns() == 0 })
}

// TestTLSSlowReaderGivesSlotBack: a TLS client that does not read its
// response gives the slot back when a write to it has to wait, and is cut
// off after WriteTimeout.
func TestTLSSlowReaderGivesSlotBack(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "50000000")
		chunk := make([]byte, 64<<10)
		for n := 0; n < 50000000; n += len(chunk) {
			if _, err := w.Write(chunk[:min(len(chunk), 50000000-n)]); err != nil {
				return
			}
		}
	})
	p := startTLSProxy(t, up.addr(), func(c *Config, _ *http.Server) { c.WriteTimeout = 500 * time.Millisecond })
	c := p.dialTLS(t, "http/1.1")
	c.send("GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
	waitFor(t, "the slot given back", func() bool { return p.Hooks.Releases.Load() == 1 })
	if n := p.Hooks.Dones.Load(); n != 0 {
		t.Fatalf("%d requests done while the response is still delivered", n)
	}
	waitFor(t, "the stalled request done", func() bool { return p.Hooks.Dones.Load() == 1 })
	if n := p.Hooks.Released.Load(); n != 1 {
		t.Errorf("Done said released %d times, want 1", n)
	}
	waitFor(t, "the connection closed", func() bool { return p.OpenConns() == 0 })
}

// TestTLSQueueClientLeaves: a TLS client whose request waits in the queue
// stays on the fast path, and one that leaves gives its place up.
func TestTLSQueueClientLeaves(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startTLSProxy(t, up.addr(), nil)
	p.Hooks.Deny.Store(true)
	p.Hooks.Queueing.Store(true)
	p.Hooks.Admit.Store(true)
	p.Hooks.QueueFor = 30 * time.Millisecond
	c := p.dialTLS(t, "http/1.1")
	c.send("GET /q HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := c.read("GET"); resp.StatusCode != 200 || resp.Header.Get("X-Fallback") != "" {
		t.Fatalf("queued: %d %v; want 200 on the fast path", resp.StatusCode, resp.Header)
	}
	p.Hooks.QueueFor = time.Minute
	c.send("GET /q HTTP/1.1\r\nHost: h\r\n\r\n")
	waitFor(t, "the request to queue", func() bool { return p.Hooks.Queued.Load() == 2 })
	c.Close()
	waitFor(t, "Queue to see the client leave", func() bool { return p.Hooks.Gone.Load() == 1 })
	waitFor(t, "the connection to end", func() bool { return p.OpenConns() == 0 })
}

// TestTLSForward: a request that came over TLS is forwarded to a sibling
// (over plain TCP) with X-Forwarded-Proto: https, and the answer carries
// this replica's HSTS.
func TestTLSForward(t *testing.T) {
	got := make(chan string, 1)
	sib := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("X-Mitosis-Hop") + " " + r.Header.Get("X-Forwarded-Proto")
		_, _ = io.WriteString(w, "from r2")
	})
	app := newUpstream(t, echoApp)
	p := startTLSProxy(t, app.addr(), nil)
	p.Hooks.Siblings = []string{sib.addr()}
	c := p.dialTLS(t, "http/1.1")
	c.send("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: http\r\n\r\n")
	resp, body := c.read("GET")
	if body != "from r2" || resp.Header.Get("Strict-Transport-Security") != testHSTS {
		t.Fatalf("%q %v; want the sibling's answer with HSTS", body, resp.Header)
	}
	if s := <-got; s != "r1 https" {
		t.Errorf("the sibling saw hop and X-Forwarded-Proto %q, want \"r1 https\"", s)
	}
}

// TestTLSMaxConns: above MaxConns a TLS connection is closed at once,
// without a handshake; h2 connections count too.
func TestTLSMaxConns(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startTLSProxy(t, up.addr(), func(c *Config, _ *http.Server) { c.MaxConns = 1 })
	a := p.dialTLS(t, "h2")
	_, err := tls.Dial("tcp", p.TLSAddr, &tls.Config{RootCAs: p.roots, ServerName: "a.example"})
	if err == nil {
		t.Fatal("a handshake above MaxConns")
	}
	if n := p.RefusedConns(); n != 1 {
		t.Errorf("RefusedConns = %d, want 1", n)
	}
	a.Close()
	waitFor(t, "the h2 connection counted out", func() bool { return p.OpenConns() == 0 })
	c := p.dialTLS(t, "http/1.1")
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := c.read("GET"); resp.StatusCode != 200 || strings.Contains(resp.Header.Get("X-Fallback"), "yes") {
		t.Errorf("after a close: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestTLSShutdown: Shutdown waits for a fast TLS request under way and
// stops accepting on both listeners.
func TestTLSShutdown(t *testing.T) {
	release := make(chan struct{})
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = io.WriteString(w, "done")
	})
	p := startTLSProxy(t, up.addr(), nil)
	c := p.dialTLS(t, "http/1.1")
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	waitFor(t, "the request in the app", func() bool { return p.Hooks.Acquired.Load() == 1 })
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(shutdownCtx(t)) }()
	waitFor(t, "both listeners closed", func() bool {
		_, e1 := dialRawErr(p.Addr)
		_, e2 := dialRawErr(p.TLSAddr)
		return e1 != nil && e2 != nil
	})
	close(release)
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "done" || !resp.Close {
		t.Errorf("in-flight: %d %q close=%v; want 200, done, close", resp.StatusCode, body, resp.Close)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// BenchmarkFastPathTLS: BenchmarkFastPath over TLS 1.3 (HTTP/1.1 by ALPN),
// on keep-alive connections.
func BenchmarkFastPathTLS(b *testing.B) {
	up := helloUpstream(b)
	p := startTLSProxy(b, up.addr(), nil)
	cfg := &tls.Config{RootCAs: p.roots, ServerName: "a.example", NextProtos: []string{"http/1.1"}}
	runBenchOn(b, func() (net.Conn, error) { return tls.Dial("tcp", p.TLSAddr, cfg) })
}
