package conformance

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/mitosis-run/mitosis/internal/wait"
)

// The bounds an HTTP/2 client meets, short here so that the test sees
// them act: a stream's body read may wait BodyTimeout, a stream's write
// WriteTimeout, and a connection that takes no byte for WriteTimeout is
// closed.
const (
	h2BodyTimeout  = 2 * time.Second
	h2WriteTimeout = 3 * time.Second
)

// startH2 runs mitosis with the demo app and an HTTPS listener with the
// bounds above; a request that finds no slot is shed after 1 s, so a test
// that meets held slots sees 503s at once.
func startH2(t *testing.T) (*replica, string, *tls.Config) {
	addr, env, cfg := tlsListener(t)
	r := startMitosis(t, append(env, "MITOSIS_WRITE_TIMEOUT="+h2WriteTimeout.String(),
		"MITOSIS_BODY_TIMEOUT="+h2BodyTimeout.String(), "MITOSIS_QUEUE_TIMEOUT=1s")...)
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	return r, addr, cfg
}

// h2Client speaks HTTP/2 only, with the smallest receive windows: a
// response it does not read stops the server's writes after 64 KiB.
func h2Client(t *testing.T, cfg *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true,
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerConnection: 64 << 10, MaxReceiveBufferPerStream: 64 << 10}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// normalClient asks for / on the plain port n times and fails the test
// on any answer but 200.
func normalClient(t *testing.T, r *replica, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		resp, err := http.Get("http://" + r.pub + "/")
		if err != nil {
			t.Fatalf("normal request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("normal request %d: %d; want 200 (inflight %v, delivering %v)", i, resp.StatusCode,
				r.metric(t, "mitosis_inflight"), r.metric(t, "mitosis_delivering"))
		}
	}
}

// TestHTTP2SlowReaders: 150 HTTP/2 streams (more than the 100 slots, over
// the fewest connections the stream limit allows) ask for 20 MB each and
// never read it. Their writes block on flow control, so each gives its
// slot back and counts as delivering; a normal client is served
// meanwhile, and after WriteTimeout every stream is reset.
func TestHTTP2SlowReaders(t *testing.T) {
	r, addr, cfg := startH2(t)
	cl := h2Client(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const streams = 150
	bodies := make(chan io.ReadCloser, streams)
	var wg sync.WaitGroup
	for i := 0; i < streams; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/bytes?n=20000000", nil)
			resp, err := cl.Do(req)
			if err != nil {
				t.Errorf("slow reader: %v", err)
				return
			}
			if resp.ProtoMajor != 2 {
				t.Errorf("slow reader: %s; want HTTP/2", resp.Proto)
			}
			bodies <- resp.Body
		}()
	}
	wg.Wait()
	close(bodies)
	if !wait.Until(10*time.Second, 20*time.Millisecond, func() bool {
		return r.metric(t, "mitosis_delivering") == streams
	}) {
		t.Fatalf("delivering %v, inflight %v; want %d streams delivering, no slot held", r.metric(t, "mitosis_delivering"),
			r.metric(t, "mitosis_inflight"), streams)
	}
	normalClient(t, r, 20)
	// The streams wait WriteTimeout from their first blocked write.
	if !wait.Until(h2WriteTimeout+5*time.Second, 50*time.Millisecond, func() bool {
		return r.metric(t, "mitosis_delivering") == 0
	}) {
		t.Fatalf("delivering %v after the write timeout; want 0", r.metric(t, "mitosis_delivering"))
	}
	reset := 0
	for b := range bodies {
		n, err := io.Copy(io.Discard, b)
		b.Close()
		if err != nil && n < 20_000_000 {
			reset++
		}
	}
	if reset != streams {
		t.Errorf("%d of %d unread responses were cut off; want all", reset, streams)
	}
}

// TestHTTP2SlowBodies: 150 HTTP/2 streams announce a 100-byte body and
// never send it. None takes a slot; each is answered 408 after
// BodyTimeout; a normal client is served meanwhile.
func TestHTTP2SlowBodies(t *testing.T) {
	r, addr, cfg := startH2(t)
	cl := h2Client(t, cfg)
	const streams = 150
	var got408 atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < streams; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr, pw := io.Pipe() // never written
			defer pw.Close()
			// Bounded, so that a server that never answers fails the test.
			ctx, cancel := context.WithTimeout(context.Background(), h2BodyTimeout+10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", "https://"+addr+"/", pr)
			req.ContentLength = 100
			resp, err := cl.Do(req)
			if err != nil {
				t.Errorf("slow body: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusRequestTimeout {
				got408.Add(1)
			}
		}()
	}
	normalClient(t, r, 20)
	wg.Wait()
	if got408.Load() != streams {
		t.Errorf("%d of %d silent bodies got 408; want all", got408.Load(), streams)
	}
	if took := time.Since(start); took < h2BodyTimeout || took > h2BodyTimeout+10*time.Second {
		t.Errorf("the 408s came after %s; want about %s", took, h2BodyTimeout)
	}
}

// TestHTTP2SocketNonReader: a client that opens 10 streams for 20 MB each,
// with flow-control windows that let the server send it all, and never
// reads its socket. The server's writes block in the kernel; within
// WriteTimeout the streams give their slots back and the connection is
// closed, without the client reading a byte.
func TestHTTP2SocketNonReader(t *testing.T) {
	r, addr, cfg := startH2(t)
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q; want h2", p)
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	const window = 1<<31 - 1
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteWindowUpdate(0, window-65535); err != nil {
		t.Fatal(err)
	}
	var hb []byte
	for id := uint32(1); id <= 19; id += 2 {
		hb = hb[:0]
		enc := hpack.NewEncoder(sliceWriter{&hb})
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "h2"}, {":path", "/bytes?n=20000000"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb, EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	// Not a byte read: the server must give up on its own.
	if !wait.Until(10*time.Second, 20*time.Millisecond, func() bool {
		return r.metric(t, "mitosis_delivering") == 10
	}) {
		t.Fatalf("delivering %v, inflight %v; want the 10 streams delivering, no slot held",
			r.metric(t, "mitosis_delivering"), r.metric(t, "mitosis_inflight"))
	}
	normalClient(t, r, 5)
	if !wait.Until(h2WriteTimeout+5*time.Second, 50*time.Millisecond, func() bool {
		return r.metric(t, "mitosis_delivering") == 0
	}) {
		t.Fatalf("delivering %v after the write timeout; want 0", r.metric(t, "mitosis_delivering"))
	}
	// What the kernel buffered, then the close.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection is still open after %d bytes; want it closed", n)
	}
	if n >= 10*20_000_000 {
		t.Errorf("read %d bytes: the whole answers; want them cut off", n)
	}
}

// sliceWriter appends to a byte slice (hpack's encoder writes to an
// io.Writer).
type sliceWriter struct{ b *[]byte }

func (w sliceWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }
