package main

import (
	"net"
	"syscall"
)

// refuseNew attaches a socket filter that drops every packet reaching the
// listening socket, so no new handshake completes. Established connections
// waiting in the accept queue are sockets of their own, created before the
// filter, and stay intact.
func refuseNew(l *net.TCPListener) {
	rc, err := l.SyscallConn()
	if err != nil {
		return
	}
	drop := []syscall.SockFilter{*syscall.LsfStmt(syscall.BPF_RET|syscall.BPF_K, 0)}
	_ = rc.Control(func(fd uintptr) { _ = syscall.AttachLsf(int(fd), drop) })
}
