package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrDraining is Ready's answer once SetDraining was called.
var ErrDraining = errors.New("draining")

// Status is this replica's own liveness, readiness and drain state. All
// methods are safe for concurrent use.
type Status struct {
	draining atomic.Bool

	check    func(context.Context) error
	cacheFor time.Duration
	now      func() time.Time
	flight   singleflight.Group

	mu        sync.Mutex
	checked   bool
	checkedAt time.Time
	lastErr   error
}

// NewStatus returns a Status. appCheck tells whether the app answers (nil: it
// always does, e.g. an in-process handler); it should bound its own running
// time. Its result is cached for cacheFor so a flood of /readyz or /healthz
// requests costs at most one check per cacheFor (0 means check every time,
// still one at a time). A nil now is time.Now.
func NewStatus(appCheck func(ctx context.Context) error, cacheFor time.Duration, now func() time.Time) *Status {
	if now == nil {
		now = time.Now
	}
	return &Status{check: appCheck, cacheFor: cacheFor, now: now}
}

// SetDraining marks this replica as draining, for good: readiness fails, the
// state endpoint reports it, and siblings stop forwarding to it.
func (s *Status) SetDraining() { s.draining.Store(true) }

// Draining reports whether SetDraining was called. It is one atomic load,
// cheap enough to read on every request.
func (s *Status) Draining() bool { return s.draining.Load() }

// Ready returns nil when the replica is not draining and the app check
// passed (within the cache period); otherwise ErrDraining or the check's
// error.
func (s *Status) Ready(ctx context.Context) error {
	if s.Draining() {
		return ErrDraining
	}
	return s.appOK(ctx)
}

// appOK runs the app check, or returns its cached result. Concurrent callers
// share one running check (singleflight); each still honours its own ctx.
func (s *Status) appOK(ctx context.Context) error {
	if s.check == nil {
		return nil
	}
	if ok, err := s.cached(); ok {
		return err
	}
	ch := s.flight.DoChan("app", func() (any, error) {
		// Check again: a flight that ended between our cache miss and
		// DoChan has just stored a fresh result.
		if ok, err := s.cached(); ok {
			return nil, err
		}
		// Detached from the first caller's cancellation: the result is
		// shared with every waiter and cached.
		err := s.check(context.WithoutCancel(ctx))
		if err != nil {
			err = fmt.Errorf("app check: %w", err)
		}
		s.mu.Lock()
		s.checked, s.checkedAt, s.lastErr = true, s.now(), err
		s.mu.Unlock()
		return nil, err
	})
	select {
	case <-ctx.Done():
		return fmt.Errorf("app check: %w", ctx.Err())
	case res := <-ch:
		return res.Err
	}
}

// cached returns the last check result if it is younger than cacheFor.
func (s *Status) cached() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checked && s.now().Sub(s.checkedAt) < s.cacheFor {
		return true, s.lastErr
	}
	return false, nil
}

// Healthz is the liveness endpoint: 200 "ok" while the app check passes,
// even when draining (a draining replica is alive and finishing work; failing
// liveness then would only get it killed early), else 503 with the reason.
func (s *Status) Healthz(w http.ResponseWriter, r *http.Request) {
	writeStatus(w, s.appOK(r.Context()))
}

// Readyz is the readiness endpoint: 200 "ok" when Ready returns nil, else
// 503 with the reason ("draining" or the app check's error).
func (s *Status) Readyz(w http.ResponseWriter, r *http.Request) {
	writeStatus(w, s.Ready(r.Context()))
}

func writeStatus(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintln(w, err.Error())
		return
	}
	_, _ = fmt.Fprintln(w, "ok")
}
