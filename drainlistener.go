package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// drainListener wraps the public listener so a drain loses no request:
// http.Server.Shutdown alone closes the listening socket (connections still
// in the kernel's accept queue are reset after their clients may have sent
// a request) and drops requests it reads from a connection after shutdown
// began. Instead the drain (1) shrinks the accept backlog so new connection
// attempts are no longer completed by the kernel, (2) keeps accepting what
// the kernel already queued for a short grace, (3) closes the listener and
// (4) waits until every connection finished its response and closed —
// keep-alives are off while draining — before Shutdown has nothing left
// to cut.
type drainListener struct {
	net.Listener
	quiescing atomic.Bool
}

// acceptGrace is how long the drain keeps accepting connections the kernel
// completed before the backlog shrank.
const acceptGrace = 50 * time.Millisecond

func (l *drainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && l.quiescing.Load() {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			l.Listener.Close()
			return nil, net.ErrClosed
		}
	}
	return c, err
}

// quiesce stops the kernel from completing new connections, lets Accept
// take the already-queued ones for acceptGrace, then closes the listener.
func (l *drainListener) quiesce() {
	l.quiescing.Store(true)
	tl, ok := l.Listener.(*net.TCPListener)
	if !ok {
		l.Listener.Close()
		return
	}
	shrinkBacklog(tl)
	if err := tl.SetDeadline(time.Now().Add(acceptGrace)); err != nil {
		l.Listener.Close()
	}
}

// connTracker follows the public server's connections.
type connTracker struct {
	mu   sync.Mutex
	open map[net.Conn]connInfo
}

type connInfo struct {
	state http.ConnState
	since time.Time
}

// newConnGrace is how long a connection that has not sent a request yet is
// waited for: its request may be on its way. Older silent connections are
// left to Shutdown.
const newConnGrace = time.Second

func newConnTracker() *connTracker {
	return &connTracker{open: map[net.Conn]connInfo{}}
}

// hook is the http.Server.ConnState callback.
func (t *connTracker) hook(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(t.open, c)
	default:
		t.open[c] = connInfo{state: s, since: time.Now()}
	}
}

// busy reports whether a connection is serving a request, or is new enough
// that a request may still arrive on it.
func (t *connTracker) busy(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ci := range t.open {
		switch ci.state {
		case http.StateActive:
			return true
		case http.StateNew:
			if now.Sub(ci.since) < newConnGrace {
				return true
			}
		}
	}
	return false
}

// wait returns once no connection is busy, or with ctx's error.
func (t *connTracker) wait(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for t.busy(time.Now()) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
