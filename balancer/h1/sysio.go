package h1

import (
	"io"
	"net"
)

// sockIO returns the reader and writer the fast path uses for a socket:
// on Linux one that reads and writes with raw system calls (sysio_linux.go),
// elsewhere c itself. Deadlines and Close stay with c.
func sockIO(c net.Conn) io.ReadWriter {
	if s := newRawSock(c); s != nil {
		return s
	}
	return c
}
