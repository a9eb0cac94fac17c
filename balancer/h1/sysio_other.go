//go:build !linux

package h1

import "net"

type rawSock struct{ net.Conn }

// newRawSock: only Linux has the raw path (sysio_linux.go).
func newRawSock(net.Conn) *rawSock { return nil }
