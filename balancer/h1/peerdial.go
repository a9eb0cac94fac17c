package h1

import (
	"net"
	"time"
)

// Dead-peer detection on connections to siblings (and the upstream). A
// sibling whose node is lost sends no RST and no FIN: without these, a
// request written to it waits for the kernel's retransmissions (about 15
// minutes) and one whose answer was pending waits for ever. With them the
// connection fails within about PeerDeadAfter, and the caller's retry
// rule sends an idempotent request to another sibling (issue 14: GETs
// that entered on a live node and were forwarded to a lost one failed at
// the client's timeout).
//
//   - TCP keep-alive probes after 1 s without traffic, every 1 s, 3 of
//     them: a connection waiting for an answer from a peer that is gone
//     fails after about 4 s. A live peer's kernel answers the probes
//     however long its app takes.
//   - TCP_USER_TIMEOUT (Linux) 3 s: data written and not acknowledged for
//     that long fails the connection (the probes do not run while data is
//     in flight).
const (
	peerKeepIdle     = time.Second
	peerKeepInterval = time.Second
	peerKeepCount    = 3
	peerUserTimeout  = 3 * time.Second
	// PeerDeadAfter is about the longest a connection to a vanished peer
	// stays open.
	PeerDeadAfter = peerKeepIdle + peerKeepCount*peerKeepInterval
)

// PeerDialer returns a dialer for connections to siblings, with the given
// connect timeout and the dead-peer detection above.
func PeerDialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		KeepAliveConfig: net.KeepAliveConfig{
			Enable: true, Idle: peerKeepIdle, Interval: peerKeepInterval, Count: peerKeepCount,
		},
		Control: userTimeout,
	}
}
