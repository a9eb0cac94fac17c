package h1

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestSockConnNoWait: once told not to wait (tlsConn.Close), a write to a
// socket whose peer does not read takes what fits and fails at once with
// EAGAIN, instead of waiting for a deadline.
func TestSockConnNoWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Small buffers on both sides, so that what is queued stays queued.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	peer, err := d.Dial("tcp", ln.Addr().String()) // never reads
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetWriteBuffer(4096)
	under, rs := tlsTransport(c, nil)
	if rs == nil {
		t.Fatal("no raw socket under a TCP connection")
	}
	sc := under.(*sockConn)
	rs.setWriteWait(100*time.Millisecond, nil)
	buf := make([]byte, 64<<10)
	for { // fill the socket until a write has to wait, and times out
		if _, err := sc.Write(buf); err != nil {
			break
		}
	}
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	sc.noWait()
	_, err = sc.Write(buf)
	if !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("a write that cannot go on: %v, want EAGAIN at once", err)
	}
}
