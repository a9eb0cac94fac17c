package pool

import (
	"testing"
	"time"
)

func TestMsToDuration(t *testing.T) {
	nan := 0.0
	nan /= nan
	tests := []struct {
		in   float64
		want time.Duration
	}{
		{1.5, 1500 * time.Microsecond},
		{-3, 0},
		{nan, 0},
		{1e300, 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := msToDuration(tt.in); got != tt.want {
			t.Errorf("msToDuration(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// A row's latency is app time, whatever the reported total (queue
// included): the own row and every sibling's row carry the same kind.
func TestRowOfLatencyIsAppTime(t *testing.T) {
	st := State{ID: "r1", PublicPort: 8080, RPS: 10, Forwarded: 7, CanScale: true, Leading: true,
		LatencyMS: LatencyOf(time.Millisecond, 2*time.Millisecond, 3*time.Millisecond, 1500*time.Microsecond),
		TotalMS:   LatencyOf(40*time.Millisecond, 80*time.Millisecond, 90*time.Millisecond, 50*time.Millisecond)}
	m := RowOf(Member{Key: "127.0.0.1:9090", AdminAddr: "127.0.0.1:9090", Source: "self"}, st, time.Unix(1, 0))
	if m.LatencyP50 != time.Millisecond || m.LatencyP95 != 2*time.Millisecond || m.LatencyEWMA != 1500*time.Microsecond {
		t.Fatalf("row latency p50 %s p95 %s ewma %s, want the app's 1ms, 2ms and 1.5ms", m.LatencyP50, m.LatencyP95, m.LatencyEWMA)
	}
	if m.Forwarded != 7 || !m.CanScale || !m.Leading {
		t.Errorf("row forwarded %d, can scale %t, leading %t; want 7, true, true", m.Forwarded, m.CanScale, m.Leading)
	}
	if m.Addr != "127.0.0.1:8080" || m.State != StateReady || m.ID != "r1" || m.Source != "self" {
		t.Fatalf("row = %+v", m)
	}
}

func TestLatencyOfRoundTrip(t *testing.T) {
	for us := range 200000 {
		d := time.Duration(us) * time.Microsecond
		if got := msToDuration(LatencyOf(0, d, 0, 0).P95); got != d {
			t.Errorf("%s through the wire = %s", d, got)
		}
	}
}
