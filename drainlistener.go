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
// began. Instead, once the drain delay is over, quiesce (1) makes the
// kernel drop new connection attempts (see refuseNew: the clients
// retransmit their SYN and then find the port closed, a clean refusal),
// (2) keeps accepting what the kernel had already queued until none has
// come for acceptIdle (at most acceptMax in all: where the kernel cannot
// refuse, clients keep coming), and only then (3) closes the listener. The drain then waits until every
// connection has finished its response; while draining, each response
// closes its connection.
type drainListener struct {
	net.Listener
	quiescing atomic.Bool
	lastConn  atomic.Int64 // unix nanos of the last accepted connection
	quiesceAt atomic.Int64 // unix nanos of quiesce
	closed    chan struct{}
	closeOnce sync.Once
}

// acceptIdle is how long a quiescing listener waits for one more queued
// connection before it closes; acceptMax bounds the whole grace.
const (
	acceptIdle = 20 * time.Millisecond
	acceptMax  = 50 * time.Millisecond
)

func newDrainListener(l net.Listener) *drainListener {
	return &drainListener{Listener: l, closed: make(chan struct{})}
}

func (l *drainListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			l.lastConn.Store(time.Now().UnixNano())
			return c, nil
		}
		var ne net.Error
		if !l.quiescing.Load() || !errors.As(err, &ne) || !ne.Timeout() {
			return nil, err
		}
		idle := time.Since(time.Unix(0, l.lastConn.Load()))
		left := acceptMax - time.Since(time.Unix(0, l.quiesceAt.Load()))
		if idle >= acceptIdle || left <= 0 {
			l.close()
			return nil, net.ErrClosed
		}
		l.setDeadline(time.Now().Add(min(acceptIdle-idle, left)))
	}
}

func (l *drainListener) close() { _ = l.Close() }

// Close closes the listener once. Closing it again is not an error: the
// quiescing Accept closes it, and http.Server.Shutdown closes it too when
// Serve has not yet returned from that Accept (which made a clean drain
// exit 1 now and then).
func (l *drainListener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		err = l.Listener.Close()
		close(l.closed)
	})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (l *drainListener) setDeadline(t time.Time) {
	if tl, ok := l.Listener.(*net.TCPListener); ok {
		_ = tl.SetDeadline(t)
	}
}

// quiesce starts closing: see the type's comment. Done() is closed once the
// listener is closed.
func (l *drainListener) quiesce() {
	tl, ok := l.Listener.(*net.TCPListener)
	if !ok {
		l.close()
		return
	}
	now := time.Now().UnixNano()
	l.lastConn.Store(now)
	l.quiesceAt.Store(now)
	l.quiescing.Store(true)
	refuseNew(tl)
	l.setDeadline(time.Now().Add(acceptIdle))
}

// Done is closed when the listener has closed.
func (l *drainListener) Done() <-chan struct{} { return l.closed }

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

// closeQuiet closes the connections that are not serving a request: idle
// keep-alive ones and new ones that sent nothing for newConnGrace (a
// client's transport may dial ahead and park a connection unused).
// http.Server.Shutdown would wait 5 s for the latter (golang.org/issue/22682).
func (t *connTracker) closeQuiet() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c, ci := range t.open {
		if ci.state == http.StateIdle || ci.state == http.StateNew {
			c.Close()
		}
	}
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
