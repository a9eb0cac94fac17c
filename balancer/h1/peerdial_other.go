//go:build !linux

package h1

import "syscall"

// userTimeout is Linux only (TCP_USER_TIMEOUT); elsewhere keep-alive
// probes alone notice a vanished peer.
var userTimeout func(network, address string, c syscall.RawConn) error
