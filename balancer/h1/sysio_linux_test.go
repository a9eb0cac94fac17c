package h1

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
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

func TestRawSockReadWrite(t *testing.T) {
	c, s := tcpPair(t)
	rs := newRawSock(s, nil)
	if rs == nil {
		t.Fatal("no raw path for a *net.TCPConn")
	}
	// A read waits for data that is not there yet.
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = c.Write([]byte("hello"))
	}()
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
		time.Sleep(50 * time.Millisecond) // the writer fills the buffers and waits
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
		_ = s.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := rs.Write(make([]byte, 64<<20))
		if !errors.Is(err, os.ErrDeadlineExceeded) || n <= 0 || n >= 64<<20 {
			t.Fatalf("Write past the deadline = %d, %v; want a part and os.ErrDeadlineExceeded", n, err)
		}
	})
	t.Run("close unblocks read", func(t *testing.T) {
		_, s := tcpPair(t)
		rs := newRawSock(s, nil)
		go func() {
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
	rs := newRawSock(s, wc)
	buf := make([]byte, 8)

	// Data already there: no wait, nothing reported.
	_, _ = c.Write([]byte("a"))
	time.Sleep(20 * time.Millisecond)
	if _, err := rs.Read(buf); err != nil {
		t.Fatal(err)
	}
	if wc.last.Load() != 0 {
		t.Fatal("a read that did not wait was reported as woken")
	}
	// Data arriving later: the read waits and reports its wake-up.
	before := time.Since(wc.epoch)
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = c.Write([]byte("b"))
	}()
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
