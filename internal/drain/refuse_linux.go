package drain

import (
	"net"

	"golang.org/x/sys/unix"
)

// refuseNew stops the kernel from completing new handshakes on the
// listening socket. First choice: a socket filter that drops every packet
// reaching it (established connections waiting in the accept queue are
// sockets of their own, created before the filter, and stay intact).
// Kernels without socket filters (EOPNOTSUPP in some sandboxes) get
// listen(2) again with a backlog of 0: the kernel then queues at most one
// more connection at a time and drops the other SYNs, which the clients
// retransmit and, once the socket is closed, see refused. It returns why
// the filter could not be attached (nil when it was).
func refuseNew(l *net.TCPListener) error {
	rc, err := l.SyscallConn()
	if err != nil {
		return err
	}
	drop := unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: 0} // "accept 0 bytes": drop
	prog := unix.SockFprog{Len: 1, Filter: &drop}
	var attach error
	if err := rc.Control(func(fd uintptr) {
		if attach = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); attach != nil {
			_ = unix.Listen(int(fd), 0)
		}
	}); err != nil {
		return err
	}
	return attach
}
