package balancer

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/balancer/h1"
)

// edge is a replica wired as the mitosis command wires one with an app in
// the process (the demo): the h1 server without an upstream in front, so
// net/http serves every connection, guarded, with the Handler.
type edge struct {
	h    *Handler
	reg  *prometheus.Registry
	addr string
}

func startEdge(t *testing.T, cfg Config, app http.Handler, tune func(*h1.Config)) *edge {
	t.Helper()
	reg := prometheus.NewRegistry()
	h, err := New(cfg, app, reg)
	if err != nil {
		t.Fatal(err)
	}
	return &edge{h: h, reg: reg, addr: serveEdge(t, h, tune)}
}

// serveEdge serves h behind an h1 server without an upstream and returns
// its address.
func serveEdge(t *testing.T, h *Handler, tune func(*h1.Config)) string {
	t.Helper()
	fc := h1.DefaultConfig()
	fc.ReplicaID, fc.ReplicaHeader, fc.Fields = h.cfg.ID, h.cfg.ReplicaHeader, Fields()
	if tune != nil {
		tune(&fc)
	}
	s, err := h1.NewServer(fc, h, &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.Serve(ln); close(done) }()
	t.Cleanup(func() { _ = s.Close(); <-done })
	return ln.Addr().String()
}

// dialEdge opens a raw client connection.
func dialEdge(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func readAnswer(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestEdgeRefusesConnect(t *testing.T) {
	called := false
	e := startEdge(t, testConfig(4, 4, time.Second), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }), nil)
	c, br := dialEdge(t, e.addr)
	_, _ = io.WriteString(c, "CONNECT internal.example:22 HTTP/1.1\r\nHost: internal.example:22\r\n\r\n")
	resp, body := readAnswer(t, br, "CONNECT")
	if resp.StatusCode != 405 || body != h1.ConnectBody || !resp.Close {
		t.Errorf("got %d %q close=%v, want 405, the text and a closed connection", resp.StatusCode, body, resp.Close)
	}
	if called {
		t.Error("CONNECT reached the app")
	}
}

// TestEdgeSlowBodyHoldsNoSlot: on the net/http path too, a body is read
// before the request takes a slot, within BodyTimeout between reads.
func TestEdgeSlowBodyHoldsNoSlot(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "got "+string(b)+" cl="+strconv.FormatInt(r.ContentLength, 10)+" expect="+r.Header.Get("Expect"))
	})
	e := startEdge(t, testConfig(1, 0, time.Second), app, func(c *h1.Config) { c.BodyTimeout = 300 * time.Millisecond })
	slow, slowBR := dialEdge(t, e.addr)
	_, _ = io.WriteString(slow, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\npart")
	// The only slot is free for another client meanwhile.
	c, br := dialEdge(t, e.addr)
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	if resp, body := readAnswer(t, br, "POST"); resp.StatusCode != 200 || body != "got abc cl=3 expect=" {
		t.Fatalf("other client: %d %q (a chunked body goes on with its length)", resp.StatusCode, body)
	}
	resp, body := readAnswer(t, slowBR, "POST")
	if resp.StatusCode != http.StatusRequestTimeout || body != h1.RequestTimeoutBody || !resp.Close {
		t.Errorf("slow body: %d %q close=%v, want 408", resp.StatusCode, body, resp.Close)
	}
	if n := e.h.adm.inflight.Load(); n != 0 {
		t.Errorf("%d slots taken after the timeout", n)
	}
}

// TestEdgeExpectContinue: the client gets its 100 Continue at once, and the
// app (or the proxy in front of it) never waits for one.
func TestEdgeExpectContinue(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "got "+string(b)+" expect="+r.Header.Get("Expect"))
	})
	e := startEdge(t, testConfig(4, 4, time.Second), app, nil)
	c, br := dialEdge(t, e.addr)
	_, _ = io.WriteString(c, "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 100 {
		t.Fatalf("want 100 Continue at once, got %v %v", resp, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "hello")
	if resp, body := readAnswer(t, br, "PUT"); resp.StatusCode != 200 || body != "got hello expect=" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

// TestEdgeUpgradeRefusedCloses: past a request that asks for an upgrade the
// guard no longer follows the framing, so one that is not switched ends
// its connection.
func TestEdgeUpgradeRefusedCloses(t *testing.T) {
	e := startEdge(t, testConfig(4, 4, time.Second), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "no upgrade here")
	}), nil)
	c, br := dialEdge(t, e.addr)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
	if resp, _ := readAnswer(t, br, "GET"); !resp.Close {
		t.Error("connection kept after an upgrade that did not happen")
	}
}

// TestEdgeSlowReaderGivesSlotBack: a client that does not read its response
// gives the slot back as soon as a write to it has to wait.
func TestEdgeSlowReaderGivesSlotBack(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < 800; i++ { // 50 MB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	e := startEdge(t, testConfig(1, 0, time.Second), app, func(c *h1.Config) { c.WriteTimeout = 2 * time.Second })
	c, _ := dialEdge(t, e.addr)
	_, _ = io.WriteString(c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
	waitFor(t, func() bool {
		return e.h.adm.inflight.Load() == 0 && counterValue(t, e.reg, "mitosis_delivering") == 1
	})
	// The freed slot serves another request while the first is delivered.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+e.addr+"/", nil)
	req.Header.Set("Range", "bytes=0-0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 10)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("second client: %d", resp.StatusCode)
	}
	c.Close()
	waitFor(t, func() bool { return counterValue(t, e.reg, "mitosis_delivering") == 0 })
}
