package h1

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// ConnsBody is the body of the 503 a connection above MaxConns gets.
const ConnsBody = "overloaded: too many connections, retry later\n"

var tooManyConns = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n" +
	"Content-Length: " + strconv.Itoa(len(ConnsBody)) + "\r\nConnection: close\r\n\r\n" + ConnsBody)

// admitConn counts a new connection, or answers it 503 (when answer: a
// TLS client cannot read plain text before its handshake, and a handshake
// costs what an overloaded replica lacks) and closes it when MaxConns are
// open. It never waits: a fresh socket's send buffer takes the answer at
// once, and the accept loop goes on.
func (s *Server) admitConn(c net.Conn, answer bool) bool {
	if s.open.Add(1) <= int64(s.cfg.MaxConns) {
		return true
	}
	s.open.Add(-1)
	s.refused.Add(1)
	if answer {
		_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond)) // never needed on a fresh socket
		_, _ = c.Write(tooManyConns)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
	_ = c.Close()
	return false
}

// connDone counts a connection out.
func (s *Server) connDone() { s.open.Add(-1) }

// OpenConns is how many client connections are open, on the fast path
// and handed off; RefusedConns how many were refused above MaxConns.
func (s *Server) OpenConns() int64    { return s.open.Load() }
func (s *Server) RefusedConns() int64 { return s.refused.Load() }

// fdReserve is what a replica needs besides client connections and
// upstream ones: sibling pools, the admin server, discovery, logs.
const fdReserve = 1024

// CheckFileLimit reports whether the open-file limit of this process
// holds maxConns client connections, maxInflight upstream connections in
// use and maxIdle idle ones, with room for the rest; the error names what
// to change. (Go raises the soft limit to the hard one at start on
// Unix.) Where the limit cannot be read, it reports nil.
func CheckFileLimit(maxConns, maxInflight, maxIdle int) error {
	limit, ok := fileLimit()
	if !ok {
		return nil
	}
	need := uint64(maxConns) + uint64(maxInflight) + uint64(maxIdle) + fdReserve
	if need > limit {
		return fmt.Errorf("MITOSIS_MAX_CONNS=%d: needs about %d open files (with MAX_INFLIGHT and the idle pool), the limit is %d: raise it (ulimit -n, docker run --ulimit nofile=...) or lower MITOSIS_MAX_CONNS to at most %d",
			maxConns, need, limit, max(int64(limit)-int64(need)+int64(maxConns), 0))
	}
	return nil
}
