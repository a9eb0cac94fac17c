package autoscale

import (
	"testing"
	"time"

	"mitosis/pool"
)

func TestSampleOf(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		members []pool.Member
		want    Sample
	}{
		{"empty", nil, Sample{Time: t0}},
		{"ready only count", []pool.Member{
			{State: pool.StateReady, Inflight: 3, Queued: 2, Shed: 5, LatencyP95: 100 * ms, LatencyEWMA: 40 * ms, RPS: 10},
			{State: pool.StateReady, Inflight: 7, Queued: 0, Shed: 1, LatencyP95: 300 * ms, LatencyEWMA: 80 * ms, RPS: 30},
			{State: pool.StateDraining, Inflight: 50, Queued: 9, Shed: 100, LatencyP95: 9 * time.Second, RPS: 1000},
			{State: pool.StateJoining, Inflight: 1},
		}, Sample{Time: t0, Concurrency: 12, Queued: 2, Shed: 106, P95: 250 * ms, Latency: 70 * ms, Ready: 2}},
		{"no rates: worst p95, mean ewma", []pool.Member{
			{State: pool.StateReady, Inflight: 1, LatencyP95: 100 * ms, LatencyEWMA: 40 * ms},
			{State: pool.StateReady, Inflight: 1, LatencyP95: 300 * ms, LatencyEWMA: 80 * ms},
		}, Sample{Time: t0, Concurrency: 2, P95: 300 * ms, Latency: 60 * ms, Ready: 2}},
		{"negative figures ignored", []pool.Member{{State: pool.StateReady, Inflight: -4, Queued: -1}},
			Sample{Time: t0, Ready: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SampleOf(t0, tt.members); got != tt.want {
				t.Errorf("SampleOf = %+v\nwant       %+v", got, tt.want)
			}
		})
	}
}

func TestCandidatesOf(t *testing.T) {
	got := CandidatesOf([]pool.Member{
		{ID: "a", State: pool.StateReady, CanScale: true},
		{ID: "b", State: pool.StateDraining, CanScale: true},
		{ID: "c", State: pool.StateReady},
	})
	want := []Candidate{{"a", true, true}, {"b", false, true}, {"c", true, false}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("candidate %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// Only a is eligible: it leads, a ready "b" would not.
	if !Leader(got[0], got) || Leader(Candidate{ID: "b", Ready: true, CanScale: true}, got) {
		t.Error("a must lead over the members above")
	}
}
