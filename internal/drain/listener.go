package drain

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Listener wraps the public listener so a drain loses no request:
// http.Server.Shutdown alone closes the listening socket (connections still
// in the kernel's accept queue are reset after their clients may have sent
// a request) and drops requests it reads from a connection after shutdown
// began. Instead, once the drain delay is over, Quiesce (1) makes the
// kernel drop new connection attempts (see refuseNew: the clients
// retransmit their SYN and then find the port closed, a clean refusal),
// (2) keeps accepting what the kernel had already queued until none has
// come for acceptIdle (at most acceptMax in all: where the kernel cannot
// refuse, clients keep coming), and only then (3) closes the listener. The
// drain then waits (Tracker) until every connection has finished its
// response; while draining, each response closes its connection.
type Listener struct {
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

// NewListener wraps l; until Quiesce it is l.
func NewListener(l net.Listener) *Listener {
	return &Listener{Listener: l, closed: make(chan struct{})}
}

func (l *Listener) Accept() (net.Conn, error) {
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

func (l *Listener) close() { _ = l.Close() }

// Close closes the listener once. Closing it again is not an error: the
// quiescing Accept closes it, and http.Server.Shutdown closes it too when
// Serve has not yet returned from that Accept (which made a clean drain
// exit 1 now and then).
func (l *Listener) Close() error {
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

func (l *Listener) setDeadline(t time.Time) {
	if tl, ok := l.Listener.(*net.TCPListener); ok {
		_ = tl.SetDeadline(t)
	}
}

// Quiesce starts closing: see the type's comment. Done() is closed once the
// listener is closed.
func (l *Listener) Quiesce() {
	tl, ok := l.Listener.(*net.TCPListener)
	if !ok {
		l.close()
		return
	}
	now := time.Now().UnixNano()
	l.lastConn.Store(now)
	l.quiesceAt.Store(now)
	l.quiescing.Store(true)
	_ = refuseNew(tl) // without a filter, the backlog of 0 it sets instead
	l.setDeadline(time.Now().Add(acceptIdle))
}

// Done is closed when the listener has closed.
func (l *Listener) Done() <-chan struct{} { return l.closed }
