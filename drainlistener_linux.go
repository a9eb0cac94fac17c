package main

import (
	"net"
	"syscall"
)

// shrinkBacklog calls listen(2) again with a backlog of 0: Linux then
// completes (almost) no new handshakes, and clients retry their SYN until
// the socket is closed, when they get a clean "connection refused".
func shrinkBacklog(l *net.TCPListener) {
	rc, err := l.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) { _ = syscall.Listen(int(fd), 0) })
}
