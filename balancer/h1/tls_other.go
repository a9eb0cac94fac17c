//go:build !linux

package h1

import (
	"crypto/tls"
	"io"
	"net"
)

// tlsTransport: without the raw path crypto/tls reads and writes c.
func tlsTransport(c net.Conn, _ *wakeClock) (net.Conn, *rawSock) { return c, nil }

// newTLSSock: the fast path reads and writes tc itself.
func newTLSSock(tc *tls.Conn, _ *rawSock) io.ReadWriter { return tc }
