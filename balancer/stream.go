package balancer

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// stallAfter is how long one write of a response to an HTTP/2 client may
// wait before the request counts as stalled and gives its slot back (it is
// then delivering, as an HTTP/1.1 request is once a socket write has to
// wait). Under HTTP/2 a client that does not read blocks the write itself
// (flow control), so a wait is all there is to see; a client that keeps up
// takes a write in microseconds.
const stallAfter = 50 * time.Millisecond

// What a streamWatch is timing.
const (
	watchNone = iota
	watchRead
	watchWrite
)

// streamWatch gives one HTTP/2 request the bounds the h1 guard gives an
// HTTP/1.1 connection: a read of its body that waits BodyTimeout, or a
// write of its response that waits WriteTimeout, resets the stream; a
// write that waits stallAfter gives the slot back (recorder.Stalled). Its
// one timer is armed for each read and write and stopped after: a call
// that does not wait costs a timer reset and no message to net/http's
// connection goroutine; only a call that waits too long sets a deadline
// in the past, which makes net/http reset the stream at once. The timer
// may fire late or for an earlier call, so its function measures the
// current call's wait itself.
type streamWatch struct {
	rc          *http.ResponseController // the stream's, not the recorder's
	rec         *recorder
	body, write time.Duration

	t       *time.Timer
	mu      sync.Mutex
	op      int       // watchNone, watchRead, watchWrite
	since   time.Time // when the current call began
	stalled bool      // the current write gave the slot back
	done    bool      // the request ended: touch nothing
}

// watchStream starts the watch of r, written through rec to w; nil when
// r is not an HTTP/2 request. The caller calls stop when the request ends.
func (h *Handler) watchStream(rec *recorder, w http.ResponseWriter, r *http.Request) *streamWatch {
	if r.ProtoMajor != 2 {
		return nil
	}
	s := &streamWatch{rc: http.NewResponseController(w), rec: rec, body: h.cfg.BodyTimeout, write: h.cfg.WriteTimeout}
	s.t = time.AfterFunc(time.Hour, s.fire)
	s.t.Stop()
	if r.Body != nil && r.Body != http.NoBody && s.body > 0 {
		r.Body = watchedBody{ReadCloser: r.Body, s: s}
	}
	return s
}

// begin starts timing a call of kind op.
func (s *streamWatch) begin(op int) {
	d := s.body
	if op == watchWrite {
		d = stallAfter
		if s.write > 0 {
			d = min(d, s.write)
		}
	}
	if d <= 0 {
		return
	}
	s.mu.Lock()
	s.op, s.since, s.stalled = op, time.Now(), false
	s.mu.Unlock()
	s.t.Reset(d)
}

// end stops timing the current call.
func (s *streamWatch) end() {
	s.t.Stop()
	s.mu.Lock()
	s.op = watchNone
	s.mu.Unlock()
}

// stop ends the watch: no later timer touches the request or its
// recorder (which goes back to its pool).
func (s *streamWatch) stop() {
	s.t.Stop()
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
}

// fire runs on the timer: it gives the slot back for a write that waited
// stallAfter, and resets the stream when the call waited its bound;
// otherwise it arms the timer for what is left.
func (s *streamWatch) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done || s.op == watchNone {
		return
	}
	waited := time.Since(s.since)
	past := time.Unix(1, 0) // a deadline in the past: reset now
	switch s.op {
	case watchRead:
		if waited >= s.body {
			_ = s.rc.SetReadDeadline(past)
			return
		}
		s.t.Reset(s.body - waited)
	case watchWrite:
		if waited >= stallAfter && !s.stalled {
			s.stalled = true
			s.rec.Stalled()
		}
		if s.write > 0 && waited >= s.write {
			_ = s.rc.SetWriteDeadline(past)
			return
		}
		next := time.Duration(-1) // the next point to look again at
		if !s.stalled {
			next = stallAfter - waited
		}
		if s.write > 0 && (next < 0 || s.write-waited < next) {
			next = s.write - waited
		}
		if next > 0 {
			s.t.Reset(next)
		}
	}
}

// watchedBody times each read of an HTTP/2 request's body.
type watchedBody struct {
	io.ReadCloser
	s *streamWatch
}

func (b watchedBody) Read(p []byte) (int, error) {
	b.s.begin(watchRead)
	n, err := b.ReadCloser.Read(p)
	b.s.end()
	return n, err
}
