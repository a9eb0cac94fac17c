//go:build !linux

package h1

import "net"

type rawSock struct{ net.Conn }

// wakeTracking: without the raw path nothing reports to the wakeClock.
const wakeTracking = false

// newRawSock: only Linux has the raw path (sysio_linux.go).
func newRawSock(net.Conn, *wakeClock) *rawSock { return nil }
