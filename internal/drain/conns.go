package drain

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Tracker follows a server's connections (through http.Server.ConnState)
// so a drain knows when every accepted request has its answer.
type Tracker struct {
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

// NewTracker returns a tracker with no connection; pass its Hook as the
// server's ConnState.
func NewTracker() *Tracker {
	return &Tracker{open: map[net.Conn]connInfo{}}
}

// Hook is the http.Server.ConnState callback.
func (t *Tracker) Hook(c net.Conn, s http.ConnState) {
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
func (t *Tracker) busy(now time.Time) bool {
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

// CloseQuiet closes the connections that are not serving a request: idle
// keep-alive ones and new ones that sent nothing for newConnGrace (a
// client's transport may dial ahead and park a connection unused).
// http.Server.Shutdown would wait 5 s for the latter (golang.org/issue/22682).
func (t *Tracker) CloseQuiet() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c, ci := range t.open {
		if ci.state == http.StateIdle || ci.state == http.StateNew {
			c.Close()
		}
	}
}

// Wait returns once no connection is busy, or with ctx's error.
func (t *Tracker) Wait(ctx context.Context) error {
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
