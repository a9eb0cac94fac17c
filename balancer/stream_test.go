package balancer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mitosis-run/mitosis/internal/wait"
)

// h2Server serves app through a Handler of config c over HTTP/2 (TLS),
// and gives a client with the smallest receive windows: a response it
// does not read blocks the app's writes after 64 KiB.
func h2Server(t *testing.T, c Config, app http.Handler) (*Handler, *httptest.Server, *http.Client) {
	t.Helper()
	h, err := New(c, app, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = true
	tr.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerConnection: 64 << 10, MaxReceiveBufferPerStream: 64 << 10}
	t.Cleanup(tr.CloseIdleConnections)
	return h, srv, &http.Client{Transport: tr}
}

// bigApp writes n bytes in 32 KiB writes and reports how its writes ended.
func bigApp(n int, ended chan<- error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 32<<10)
		var err error
		for sent := 0; sent < n && err == nil; sent += len(buf) {
			_, err = w.Write(buf)
		}
		ended <- err
	}
}

// TestHTTP2StreamStall: an HTTP/2 client that does not read its response
// blocks the app's writes (flow control). After stallAfter the request
// gives its slot back, so the replica's one slot serves others; after
// WriteTimeout the stream is reset and the app's write fails.
func TestHTTP2StreamStall(t *testing.T) {
	c := testConfig(1, 0, time.Second)
	c.WriteTimeout = time.Second
	ended := make(chan error, 1)
	h, srv, cl := h2Server(t, c, bigApp(20<<20, ended))
	resp, err := cl.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("proto %s; want HTTP/2", resp.Proto)
	}
	if !wait.Until(5*time.Second, 5*time.Millisecond, func() bool { return h.Load().Inflight == 0 }) {
		t.Fatal("the stalled response still holds its slot")
	}
	select {
	case err := <-ended:
		t.Fatalf("the app's writes ended (%v) before the write timeout", err)
	default:
	}
	start := time.Now()
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the app wrote 20 MiB to a client that read 64 KiB")
		}
		if took := time.Since(start); took > c.WriteTimeout+2*time.Second {
			t.Fatalf("the stream was reset %s later; want within the write timeout (%s)", took, c.WriteTimeout)
		}
	case <-time.After(c.WriteTimeout + 5*time.Second):
		t.Fatal("the stream was never reset")
	}
	if _, err := io.Copy(io.Discard, resp.Body); err == nil {
		t.Fatal("the client read a whole response the server gave up on")
	}
}

// TestHTTP2StreamKeepsUp: a client that reads is never stalled nor cut,
// however long the response takes in all, and the app may pause between
// writes longer than WriteTimeout (a write is timed, not the response).
func TestHTTP2StreamKeepsUp(t *testing.T) {
	c := testConfig(1, 0, time.Second)
	c.WriteTimeout = 500 * time.Millisecond
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			io.WriteString(w, strings.Repeat("x", 100<<10))
			http.NewResponseController(w).Flush()
			time.Sleep(600 * time.Millisecond) // the app's pause, longer than WriteTimeout
		}
	})
	h, srv, cl := h2Server(t, c, app)
	resp, err := cl.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != 3*100<<10 {
		t.Fatalf("read %d bytes, %v; want %d", n, err, 3*100<<10)
	}
	if d := testutil.ToFloat64(h.m.delivering); d != 0 {
		t.Fatalf("delivering %v after the response; want 0", d)
	}
}

// TestHTTP2SlowBody: an HTTP/2 request whose body does not come is
// answered 408 after BodyTimeout, without taking a slot.
func TestHTTP2SlowBody(t *testing.T) {
	c := testConfig(1, 0, time.Second)
	c.BodyTimeout = 300 * time.Millisecond
	_, srv, cl := h2Server(t, c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the app was called")
	}))
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/", pr)
	req.ContentLength = 100
	start := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d; want 408", resp.StatusCode)
	}
	if took := time.Since(start); took < c.BodyTimeout {
		t.Fatalf("408 after %s; want after the body timeout (%s)", took, c.BodyTimeout)
	}
}

// TestHTTP2StallWithoutWriteTimeout: with no write bound (a library user's
// WriteTimeout 0) a stalled stream still gives its slot back, and lives
// until the client goes.
func TestHTTP2StallWithoutWriteTimeout(t *testing.T) {
	c := testConfig(1, 0, time.Second)
	c.WriteTimeout = 0
	ended := make(chan error, 1)
	h, srv, cl := h2Server(t, c, bigApp(20<<20, ended))
	resp, err := cl.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if !wait.Until(5*time.Second, 5*time.Millisecond, func() bool { return h.Load().Inflight == 0 }) {
		t.Fatal("the stalled response still holds its slot")
	}
	resp.Body.Close() // the client goes: the stream is reset
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the app wrote 20 MiB to a client that left")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the app's write never ended after the client left")
	}
}
