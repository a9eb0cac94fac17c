package h1

import (
	"testing"
	"time"
)

func TestWakeClockFresh(t *testing.T) {
	for _, tc := range []struct {
		name      string
		last, now time.Duration
		want      bool
	}{
		{"just woken", time.Second, time.Second, true},
		{"within the guard", time.Second, time.Second + yieldGuard - 1, true},
		{"guard passed", time.Second, time.Second + yieldGuard, false},
		{"never woken, at start", 0, yieldGuard / 2, true},
		{"never woken, later", 0, time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWakeClock()
			w.last.Store(int64(tc.last))
			if got := w.fresh(tc.now); got != tc.want {
				t.Fatalf("fresh(last %v, now %v) = %v, want %v", tc.last, tc.now, got, tc.want)
			}
		})
	}
}
