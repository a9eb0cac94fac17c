package h1

import (
	"errors"
	"io"
	"net"
	"time"
)

// sockIO returns the reader and writer the fast path uses for a socket:
// on Linux one that reads and writes with raw system calls (sysio_linux.go),
// elsewhere c itself. Deadlines and Close stay with c. Reads that had to
// wait for the poller are reported to wc.
func sockIO(c net.Conn, wc *wakeClock) io.ReadWriter {
	if s := newRawSock(c, wc); s != nil {
		return s
	}
	return c
}

// idleFiller is a socket that can wait for a request without holding
// buffers (waitFill), and watch for the client leaving while its request
// waits for a slot (waitHangup): rawSock on Linux.
type idleFiller interface {
	waitFill(fill func() bool) error
	hangupWatcher
}

// hangupWatcher is a socket that can watch for the client leaving while
// its request waits for a slot (waitHangup): rawSock, and tlsSock over one.
type hangupWatcher interface {
	waitHangup() error
}

// errWouldBlock: a read inside waitFill found no bytes.
var errWouldBlock = errors.New("h1: read would block")

// waitTuner is a socket that arms deadlines only when a call has to wait
// (rawSock): see setReadWait and setWriteWait.
type waitTuner interface {
	setReadWait(d time.Duration)
	setWriteWait(d time.Duration, stalled func())
}
