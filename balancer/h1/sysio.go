package h1

import (
	"io"
	"net"
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
