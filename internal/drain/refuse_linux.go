package drain

import (
	"net"
	"syscall"
)

// refuseNew stops the kernel from completing new handshakes on the
// listening socket. First choice: a socket filter that drops every packet
// reaching it (established connections waiting in the accept queue are
// sockets of their own, created before the filter, and stay intact).
// Kernels without socket filters (EOPNOTSUPP in some sandboxes) get
// listen(2) again with a backlog of 0: the kernel then queues at most one
// more connection at a time and drops the other SYNs, which the clients
// retransmit and, once the socket is closed, see refused.
func refuseNew(l *net.TCPListener) {
	rc, err := l.SyscallConn()
	if err != nil {
		return
	}
	drop := []syscall.SockFilter{*syscall.LsfStmt(syscall.BPF_RET|syscall.BPF_K, 0)}
	_ = rc.Control(func(fd uintptr) {
		if syscall.AttachLsf(int(fd), drop) != nil {
			_ = syscall.Listen(int(fd), 0)
		}
	})
}
