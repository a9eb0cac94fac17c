package autoscale

import (
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

// SampleOf sums the members' load into a Sample at now; members should
// include this replica itself (as a pool.Member built from its own
// figures) because the pool table holds only siblings.
//
//   - Concurrency, Queued, Ready: over ready members only; draining or
//     down ones take no new work, joining ones have not reported yet.
//   - Shed: over every member in the list, whatever its state, so a member
//     flipping between ready and not does not make the sum jump; each
//     member's count is kept too (by Key), and the decider sums the
//     increases member by member, so a member that joins or leaves the
//     table does not read as shedding.
//   - P95 and Latency: the ready members' app p95 and EWMA (queue time
//     excluded, for this replica's row as for the siblings': pool.RowOf)
//     weighted by their request rate (a busy member speaks for more requests); when none
//     reports a rate, the worst p95 and the mean EWMA.
func SampleOf(now time.Time, members []pool.Member) Sample {
	s := Sample{Time: now, shedOf: make(map[string]uint64, len(members))}
	var rps, p95w, ewmaW, ewmaSum float64
	var worst time.Duration
	for _, m := range members {
		s.Shed += m.Shed
		s.shedOf[m.Key] += m.Shed
		if m.State != pool.StateReady {
			continue
		}
		s.Ready++
		s.Concurrency += float64(max(m.Inflight, 0) + max(m.Queued, 0))
		s.Queued += max(m.Queued, 0)
		worst = max(worst, m.LatencyP95)
		ewmaSum += float64(m.LatencyEWMA)
		if m.RPS > 0 {
			rps += m.RPS
			p95w += m.RPS * float64(m.LatencyP95)
			ewmaW += m.RPS * float64(m.LatencyEWMA)
		}
	}
	switch {
	case rps > 0:
		s.P95, s.Latency = time.Duration(p95w/rps), time.Duration(ewmaW/rps)
	case s.Ready > 0:
		s.P95, s.Latency = worst, time.Duration(ewmaSum/float64(s.Ready))
	}
	return s
}

// CandidatesOf turns members into election candidates (ready means
// pool.StateReady).
func CandidatesOf(members []pool.Member) []Candidate {
	out := make([]Candidate, 0, len(members))
	for _, m := range members {
		out = append(out, Candidate{ID: m.ID, Ready: m.State == pool.StateReady, CanScale: m.CanScale, Leading: m.Leading})
	}
	return out
}
