package autoscale

import (
	"reflect"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/pool"
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
			got := SampleOf(t0, tt.members)
			got.shedOf = nil // TestShedIncrease
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SampleOf = %+v\nwant       %+v", got, tt.want)
			}
		})
	}
}

// TestShedIncrease: the shed increase between two samples is summed
// member by member, so members joining, leaving or restarting do not read
// as shedding; samples not made by SampleOf use the sums.
func TestShedIncrease(t *testing.T) {
	sample := func(sheds map[string]uint64) Sample {
		var ms []pool.Member
		for k, n := range sheds {
			ms = append(ms, pool.Member{Key: k, State: pool.StateReady, Shed: n})
		}
		return SampleOf(t0, ms)
	}
	tests := []struct {
		name      string
		prev, cur map[string]uint64
		want      uint64
	}{
		{"steady", map[string]uint64{"a": 5, "b": 1}, map[string]uint64{"a": 5, "b": 1}, 0},
		{"both shed", map[string]uint64{"a": 5, "b": 1}, map[string]uint64{"a": 8, "b": 2}, 4},
		{"a member joins with its own count", map[string]uint64{"a": 5}, map[string]uint64{"a": 6, "c": 100}, 1},
		{"a member leaves", map[string]uint64{"a": 5, "c": 100}, map[string]uint64{"a": 7}, 2},
		{"a member restarts", map[string]uint64{"a": 8, "b": 1}, map[string]uint64{"a": 2, "b": 4}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shedIncrease(sample(tt.prev), sample(tt.cur)); got != tt.want {
				t.Errorf("shedIncrease = %d, want %d", got, tt.want)
			}
		})
	}
	if got := shedIncrease(Sample{Shed: 5}, Sample{Shed: 9}); got != 4 {
		t.Errorf("from the sums: %d, want 4", got)
	}
	if got := shedIncrease(Sample{Shed: 9}, Sample{Shed: 5}); got != 0 {
		t.Errorf("from falling sums: %d, want 0", got)
	}
}

// TestJoiningMemberIsNoBurst: a member that joins the table with a large
// shed count of its own does not make the decider panic.
func TestJoiningMemberIsNoBurst(t *testing.T) {
	d := NewDecider(DefaultConfig())
	self := pool.Member{Key: "self", State: pool.StateReady, Inflight: 1, LatencyEWMA: 100 * time.Millisecond}
	old := pool.Member{Key: "old", State: pool.StateReady, Inflight: 1, Shed: 50000, LatencyEWMA: 100 * time.Millisecond}
	now := t0
	for i := range 10 {
		members := []pool.Member{self}
		if i >= 5 {
			members = append(members, old)
		}
		now = now.Add(DefaultConfig().Tick)
		d.Record(SampleOf(now, members))
	}
	dec := d.Decide(now, Current(2))
	if dec.Panic || dec.ShedDelta != 0 || dec.Desired > 2 {
		t.Errorf("after a member joined with its shed count: %+v", dec)
	}
}

func TestCandidatesOf(t *testing.T) {
	got := CandidatesOf([]pool.Member{
		{ID: "a", State: pool.StateReady, CanScale: true},
		{ID: "b", State: pool.StateDraining, CanScale: true},
		{ID: "c", State: pool.StateReady, Leading: true},
	})
	want := []Candidate{{"a", true, true, false}, {"b", false, true, false}, {"c", true, false, true}}
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
