package h1

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tlsTransport is what crypto/tls reads and writes a TLS client
// connection through: c, its reads and writes done by rawSock (the raw
// system calls, for the reason rawSock gives; under TLS as much as
// without), and that rawSock, whose per-wait deadlines, stall reports and
// hang-up watch the fast path then uses (tlsSock). raw is nil where c is
// not a socket.
func tlsTransport(c net.Conn, wc *wakeClock) (under net.Conn, raw *rawSock) {
	rs := newRawSock(c, wc)
	if rs == nil {
		return c, nil
	}
	return &sockConn{Conn: c, sock: rs}, rs
}

// sockConn is a socket read and written by rawSock; deadlines, addresses
// and Close stay with the net.Conn.
type sockConn struct {
	net.Conn
	sock   *rawSock
	nowait atomic.Bool // see noWait
}

func (c *sockConn) Read(p []byte) (int, error) { return c.sock.Read(p) }

func (c *sockConn) Write(p []byte) (int, error) {
	if c.nowait.Load() {
		return c.writeNow(p)
	}
	return c.sock.Write(p)
}

// noWait makes every later write take what the socket takes at once and
// fail rather than wait (tlsConn.Close).
func (c *sockConn) noWait() { c.nowait.Store(true) }

// writeNow writes p as far as the socket takes it without waiting.
func (c *sockConn) writeNow(p []byte) (int, error) {
	var n int
	var e syscall.Errno
	err := c.sock.rc.Write(func(fd uintptr) bool {
		for n < len(p) && e == 0 {
			k, errno := sysWrite(fd, p[n:])
			switch errno {
			case 0:
				n += k
			case syscall.EINTR:
			default:
				e = errno // EAGAIN included: no waiting
			}
		}
		return true
	})
	switch {
	case err != nil:
		return n, err
	case e != 0:
		return n, os.NewSyscallError("write", e)
	}
	return n, nil
}

// newTLSSock is what the fast path reads and writes a TLS connection
// through: tc, plus the socket under it (raw) for what waits.
func newTLSSock(tc *tls.Conn, raw *rawSock) io.ReadWriter {
	if raw == nil {
		return tc
	}
	return &tlsSock{Conn: tc, raw: raw}
}

// tlsSock reads and writes through crypto/tls; a read or write of records
// that has to wait arms the deadline set by setReadWait or setWriteWait
// (and reports the stall) in the socket under it, as rawSock does for a
// plain connection. It watches for the client leaving on that socket
// (waitHangup peeks at it, leaving the records to crypto/tls). It has no
// waitFill: crypto/tls may hold bytes already read from the socket, so
// an idle TLS connection keeps its buffers (as it keeps crypto/tls's).
type tlsSock struct {
	*tls.Conn
	raw *rawSock
}

func (t *tlsSock) setReadWait(d time.Duration) { t.raw.setReadWait(d) }
func (t *tlsSock) setWriteWait(d time.Duration, stalled func()) {
	t.raw.setWriteWait(d, stalled)
}

// waitHangup waits until the client closes its side of the connection or
// resets it (io.EOF), or for the poller's error (the deadline that ends
// the watch, Close). Unlike rawSock's, it goes on waiting when bytes
// arrive: a client that closes a TLS connection sends a close_notify
// alert before its FIN, and under TLS 1.3 an alert looks like any record.
// So what tells a client that left is the FIN itself, which poll(2)
// reports as POLLRDHUP even with bytes unread before it. A pipelined
// request waits in the socket for crypto/tls.
func (t *tlsSock) waitHangup() error {
	err := t.raw.rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
		n, err := unix.Poll(fds, 0)
		for err == unix.EINTR {
			n, err = unix.Poll(fds, 0)
		}
		// Else wait for the next event on the socket.
		return err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
	})
	if err != nil {
		return err
	}
	return io.EOF
}

var (
	_ waitTuner     = (*tlsSock)(nil)
	_ hangupWatcher = (*tlsSock)(nil)
)
