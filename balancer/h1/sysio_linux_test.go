package h1

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		done <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-done
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// waitSignal is a connection that tells when a raw read is about to wait
// on the poller: with setReadWait, that read arms a read deadline first.
type waitSignal struct {
	*net.TCPConn
	waiting chan struct{}
}

func (w *waitSignal) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		select {
		case w.waiting <- struct{}{}:
		default:
		}
	}
	return w.TCPConn.SetReadDeadline(t)
}

// waitingSock is newRawSock(s, wc) whose reads, when they wait, say so on
// the channel returned.
func waitingSock(t *testing.T, s *net.TCPConn, wc *wakeClock) (*rawSock, <-chan struct{}) {
	t.Helper()
	ws := &waitSignal{TCPConn: s, waiting: make(chan struct{}, 1)}
	rs := newRawSock(ws, wc)
	if rs == nil {
		t.Fatal("no raw path for a *net.TCPConn")
	}
	rs.setReadWait(time.Hour)
	return rs, ws.waiting
}

// writeWhenWaiting writes b to c once a read says it waits.
func writeWhenWaiting(c net.Conn, waiting <-chan struct{}, b string) {
	go func() {
		<-waiting
		_, _ = c.Write([]byte(b))
	}()
}

func TestRawSockReadWrite(t *testing.T) {
	c, s := tcpPair(t)
	rs, waiting := waitingSock(t, s, nil)
	// A read waits for data that is not there yet.
	writeWhenWaiting(c, waiting, "hello")
	buf := make([]byte, 64)
	n, err := rs.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v; want hello", buf[:n], err)
	}
	if n, err := rs.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
	// The peer's close reads as io.EOF.
	_ = c.CloseWrite()
	if n, err := rs.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer's close = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestRawSockLargeWriteWaitsForSlowReader(t *testing.T) {
	c, s := tcpPair(t)
	_ = c.SetReadBuffer(64 << 10)
	_ = s.SetWriteBuffer(64 << 10)
	rs := newRawSock(s, nil)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: many times the socket buffers
	got := make(chan []byte, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 32<<10)
		// Let the writer fill the buffers and wait; the test holds either
		// way, it only exercises the wait less.
		time.Sleep(50 * time.Millisecond)
		for {
			n, err := c.Read(buf)
			b.Write(buf[:n])
			if err != nil || b.Len() >= len(want) {
				got <- b.Bytes()
				return
			}
		}
	}()
	n, err := rs.Write(want)
	if n != len(want) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("reader got %d bytes, not what was written", len(b))
	}
}

func TestRawSockDeadlinesAndClose(t *testing.T) {
	t.Run("read deadline", func(t *testing.T) {
		_, s := tcpPair(t)
		rs := newRawSock(s, nil)
		_ = s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		if _, err := rs.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past the deadline: %v; want os.ErrDeadlineExceeded", err)
		}
	})
	t.Run("write deadline", func(t *testing.T) {
		_, s := tcpPair(t) // the peer never reads
		rs := newRawSock(s, nil)
		big := make([]byte, 64<<20) // before the deadline: slow under -race
		_ = s.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := rs.Write(big)
		if !errors.Is(err, os.ErrDeadlineExceeded) || n <= 0 || n >= 64<<20 {
			t.Fatalf("Write past the deadline = %d, %v; want a part and os.ErrDeadlineExceeded", n, err)
		}
	})
	t.Run("close unblocks read", func(t *testing.T) {
		_, s := tcpPair(t)
		rs := newRawSock(s, nil)
		go func() {
			// Usually after the read waits; the test holds either way.
			time.Sleep(20 * time.Millisecond)
			_ = s.Close()
		}()
		if _, err := rs.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read on a closed connection: %v; want net.ErrClosed", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		c, s := tcpPair(t)
		rs := newRawSock(s, nil)
		_ = c.SetLinger(0)
		_ = c.Close() // RST
		_, err := rs.Read(make([]byte, 8))
		if !errors.Is(err, syscall.ECONNRESET) || !retryable(err) {
			t.Fatalf("Read after a reset: %v; want ECONNRESET, retryable", err)
		}
	})
}

func TestSockIOUsesRawPathForTCP(t *testing.T) {
	c, _ := tcpPair(t)
	if _, ok := sockIO(c, nil).(*rawSock); !ok {
		t.Fatalf("sockIO(*net.TCPConn) = %T, want *rawSock", sockIO(c, nil))
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if sockIO(p1, nil) != io.ReadWriter(p1) {
		t.Fatal("sockIO(net.Pipe) should be the conn itself")
	}
}

func TestRawSockReportsWaitedReads(t *testing.T) {
	c, s := tcpPair(t)
	wc := newWakeClock()
	rs, waiting := waitingSock(t, s, wc)
	buf := make([]byte, 8)

	// Data already there: no wait, nothing reported.
	_, _ = c.Write([]byte("a"))
	waitFor(t, "the byte in the socket", func() bool { return !rs.quiet() })
	if _, err := rs.Read(buf); err != nil {
		t.Fatal(err)
	}
	if wc.last.Load() != 0 {
		t.Fatal("a read that did not wait was reported as woken")
	}
	// Data arriving later: the read waits and reports its wake-up.
	before := time.Since(wc.epoch)
	writeWhenWaiting(c, waiting, "b")
	if _, err := rs.Read(buf); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(wc.last.Load()); got < before {
		t.Fatalf("woken at %v, want after %v", got, before)
	}
	if !wc.fresh(time.Since(wc.epoch)) {
		t.Fatal("just woken, but not fresh")
	}
}

// TestIdleConnsHoldNoBuffers: a keep-alive connection waiting for its next
// request has given its read and write buffers (8 KiB each) back, and
// takes them again when the request comes.
func TestIdleConnsHoldNoBuffers(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector; heap figures differ")
	}
	up := helloUpstream(t)
	p := startProxy(t, up.addr(), nil)
	req := []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	buf := make([]byte, 4096)
	// exchange sends one request on c and reads the response, whose
	// length is the same every time (learnt from the first).
	respLen := 0
	exchange := func(c net.Conn) {
		t.Helper()
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		if respLen > 0 {
			if _, err := io.ReadFull(c, buf[:respLen]); err != nil {
				t.Fatal(err)
			}
			return
		}
		n := 0
		for respLen == 0 {
			m, err := c.Read(buf[n:])
			if err != nil {
				t.Fatal(err)
			}
			n += m
			if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
				var cl int
				for line := range bytes.SplitSeq(buf[:i], []byte("\r\n")) {
					if k, v, ok := bytes.Cut(line, []byte(": ")); ok && string(k) == "Content-Length" {
						cl, _ = strconv.Atoi(string(v))
					}
				}
				respLen = i + 4 + cl
			}
		}
		if _, err := io.ReadFull(c, buf[n:respLen]); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC() // a second cycle empties sync.Pool's victim cache
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	const n = 400
	conns := make([]net.Conn, n)
	before := heap()
	for i := range conns {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		exchange(c)
		conns[i] = c
	}
	// Each connection gives its buffers back inside the poller callback of
	// its idle wait, a few microseconds after its response: nothing outside
	// can wait for that event, so this sleeps many times as long. (A
	// connection not parked yet counts as holding its buffers: the test
	// then fails, it never passes wrongly.)
	time.Sleep(50 * time.Millisecond)
	grown := int64(heap()) - int64(before)
	// Held buffers would be 16 KiB per connection; what remains is the
	// connection's own state on both ends of the socket.
	if per := grown / n; per > 4<<10 {
		t.Errorf("heap grew %d bytes per idle connection, want under 4 KiB (buffers given back)", per)
	}
	for _, c := range conns {
		exchange(c)
	}
}

// TestRawSockWaitFill: fill runs at once, reads in it do not wait, and it
// runs again when bytes arrive; a deadline ends the wait.
func TestRawSockWaitFill(t *testing.T) {
	c, s := tcpPair(t)
	rs, waiting := waitingSock(t, s, newWakeClock())
	buf := make([]byte, 64)
	var got []string // what each call of fill read, or its error
	fill := func() bool {
		n, err := rs.Read(buf)
		if err != nil {
			got = append(got, err.Error())
			return err != errWouldBlock
		}
		got = append(got, string(buf[:n]))
		return true
	}
	writeWhenWaiting(c, waiting, "GET")
	if err := rs.waitFill(fill); err != nil {
		t.Fatalf("waitFill: %v", err)
	}
	if len(got) != 2 || got[0] != errWouldBlock.Error() || got[1] != "GET" {
		t.Fatalf("fill saw %q; want [would block, GET]", got)
	}
	if rs.wc.last.Load() == 0 {
		t.Error("the wait was not reported to the wake clock")
	}
	// Outside waitFill, Read waits as before.
	writeWhenWaiting(c, waiting, "x")
	if n, err := rs.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("Read after waitFill = %q, %v", buf[:n], err)
	}
	// Bytes already there: one call, no wait.
	_, _ = c.Write([]byte("POST"))
	waitFor(t, "the bytes in the socket", func() bool { return !rs.quiet() })
	got = nil
	if err := rs.waitFill(fill); err != nil || len(got) != 1 || got[0] != "POST" {
		t.Fatalf("waitFill with bytes waiting: %v, fill saw %q", err, got)
	}
	// The read deadline ends the wait.
	rs.setReadWait(20 * time.Millisecond)
	if err := rs.waitFill(fill); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("waitFill past the deadline: %v", err)
	}
	// The peer's close: fill reads io.EOF.
	rs.setReadWait(0)
	_ = c.CloseWrite()
	got = nil
	if err := rs.waitFill(fill); err != nil || len(got) != 1 || got[0] != io.EOF.Error() {
		t.Fatalf("waitFill after the peer's close: %v, fill saw %q", err, got)
	}
}
