package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for cache expiry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func serve(h http.HandlerFunc) (int, string) {
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

func TestStatusDrain(t *testing.T) {
	s := NewStatus(nil, time.Second, nil)
	if s.Draining() {
		t.Fatal("new Status is draining")
	}
	if err := s.Ready(context.Background()); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	if code, body := serve(s.Readyz); code != 200 || body != "ok" {
		t.Fatalf("readyz = %d %q", code, body)
	}
	s.SetDraining()
	if !s.Draining() {
		t.Fatal("Draining false after SetDraining")
	}
	if err := s.Ready(context.Background()); !errors.Is(err, ErrDraining) {
		t.Fatalf("Ready = %v, want ErrDraining", err)
	}
	if code, body := serve(s.Readyz); code != 503 || body != "draining" {
		t.Fatalf("readyz while draining = %d %q, want 503 draining", code, body)
	}
	// Liveness survives the drain.
	if code, body := serve(s.Healthz); code != 200 || body != "ok" {
		t.Fatalf("healthz while draining = %d %q, want 200 ok", code, body)
	}
	allocs := testing.AllocsPerRun(100, func() { _ = s.Draining() })
	if allocs != 0 {
		t.Fatalf("Draining allocates %.1f", allocs)
	}
}

func TestStatusAppCheckCached(t *testing.T) {
	clock := &fakeClock{t: t0}
	var calls atomic.Int64
	var fail atomic.Bool
	check := func(context.Context) error {
		calls.Add(1)
		if fail.Load() {
			return errors.New("connection refused")
		}
		return nil
	}
	s := NewStatus(check, time.Second, clock.now)
	ctx := context.Background()

	for range 5 {
		if err := s.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("5 readiness checks within cacheFor ran the app check %d times, want 1", n)
	}

	fail.Store(true)
	clock.add(999 * time.Millisecond)
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("within cacheFor the cached success must hold, got %v", err)
	}
	clock.add(time.Millisecond)
	err := s.Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "app check: connection refused") {
		t.Fatalf("after expiry Ready = %v, want the app check's error", err)
	}
	if code, body := serve(s.Readyz); code != 503 || body != "app check: connection refused" {
		t.Fatalf("readyz = %d %q", code, body)
	}
	if code, _ := serve(s.Healthz); code != 503 {
		t.Fatalf("healthz with a failing app = %d, want 503", code)
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("app check ran %d times, want 2 (the failure is cached too)", n)
	}

	fail.Store(false)
	clock.add(time.Second)
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("after recovery Ready = %v", err)
	}
}

// TestStatusCheckFlood shows a flood of readiness requests costs one app
// check: callers arriving while it runs join it (singleflight), later ones
// read the cached result (the fake clock stands still). A caller whose
// context ends stops waiting.
func TestStatusCheckFlood(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 100)
	var calls atomic.Int64
	s := NewStatus(func(context.Context) error {
		calls.Add(1)
		started <- struct{}{}
		<-release
		return nil
	}, time.Second, (&fakeClock{t: t0}).now)

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() { errs <- s.Ready(context.Background()) })
	}
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Ready(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ready with a cancelled ctx = %v, want context.Canceled", err)
	}

	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("21 concurrent readiness checks ran the app check %d times, want 1", n)
	}
}
