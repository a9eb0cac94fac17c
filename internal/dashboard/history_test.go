package dashboard

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func member(key string, st pool.MemberState, rps float64, inflight, queued int, p95 time.Duration, shed uint64) pool.Member {
	return pool.Member{Key: key, ID: key, AdminAddr: key, State: st, RPS: rps, Inflight: inflight, Queued: queued,
		LatencyP50: p95 / 2, LatencyP95: p95, Shed: shed}
}

// fwd is m with a forwarded count.
func fwd(m pool.Member, n uint64) pool.Member { m.Forwarded = n; return m }

// TestPointSumsTheTier: the tier's figures are sums over its members (the
// page once showed one replica's 49.7 req/s while the tier did 376), the
// latency is rate-weighted, and down members count for nothing.
func TestPointSumsTheTier(t *testing.T) {
	f := Frame{Time: t0, Desired: 4, Running: 3, Pending: 1, Members: []pool.Member{
		member("a", pool.StateReady, 49.7, 5, 2, 100*time.Millisecond, 0),
		member("b", pool.StateReady, 150.3, 7, 0, 120*time.Millisecond, 0),
		member("c", pool.StateDraining, 176, 3, 1, 110*time.Millisecond, 0),
		member("d", pool.StateDown, 999, 99, 99, time.Hour, 0),
		member("e", pool.StateJoining, 0, 0, 0, 0, 0),
	}}
	p := point(f)
	want := Point{T: t0.UnixMilli(), Desired: 4, Running: 3, Pending: 1, Ready: 2, RPS: 376, Inflight: 15, Queued: 3,
		P95: round3((49.7*100 + 150.3*120 + 176*110) / 376)}
	want.P50 = round3(want.P95 / 2)
	if p != want {
		t.Errorf("point\n got  %+v\n want %+v", p, want)
	}
	if p := point(Frame{Time: t0, Members: []pool.Member{member("a", pool.StateReady, 0, 0, 0, 0, 0)}}); p.P95 != 0 || p.RPS != 0 {
		t.Errorf("idle tier: %+v, want no latency", p)
	}
}

// TestRecordRates: shed and forwarded counts become rates between ticks,
// member by member: a member that joins with a count, or restarts with a
// lower one, adds nothing.
func TestRecordRates(t *testing.T) {
	h := NewHistory(10)
	frame := func(sec int, ms ...pool.Member) Frame {
		return Frame{Time: t0.Add(time.Duration(sec) * time.Second), Members: ms}
	}
	a := func(shed, n uint64) pool.Member { return fwd(member("a", pool.StateReady, 1, 0, 0, 0, shed), n) }
	b := func(st pool.MemberState, shed, n uint64) pool.Member {
		return fwd(member("b", st, 1, 0, 0, 0, shed), n)
	}
	steps := []struct {
		f          Frame
		shed, fwds float64
	}{
		{frame(0, a(10, 100)), 0, 0},
		{frame(2, a(14, 110)), 2, 5},
		// b joins with counts of its own: not a burst.
		{frame(4, a(14, 110), b(pool.StateReady, 500, 900)), 0, 0},
		{frame(6, a(20, 114), b(pool.StateReady, 502, 902)), 4, 3},
		// a restarts (counts back to 1), b down but still counted.
		{frame(8, a(1, 1), b(pool.StateDown, 506, 903)), 2, 0.5},
	}
	for i, s := range steps {
		p := h.Record(s.f)
		if p.Shed != s.shed || p.Forwarded != s.fwds {
			t.Errorf("step %d: shed %g/s forwarded %g/s, want %g and %g", i, p.Shed, p.Forwarded, s.shed, s.fwds)
		}
	}
}

func TestHistoryRingKeepsTheNewest(t *testing.T) {
	h := NewHistory(SizeFor(15*time.Minute, 2*time.Second))
	if h.Size() != 451 {
		t.Fatalf("15 min at 2 s: %d points, want 451", h.Size())
	}
	for i := range 1000 {
		h.Record(Frame{Time: t0.Add(time.Duration(i) * 2 * time.Second), Desired: i})
	}
	all := h.Since(0)
	if len(all) != 451 || all[0].Desired != 549 || all[450].Desired != 999 {
		t.Fatalf("kept %d points, %d..%d; want 451, 549..999", len(all), all[0].Desired, all[len(all)-1].Desired)
	}
	newer := h.Since(all[447].T)
	if len(newer) != 3 || newer[0].Desired != 997 {
		t.Fatalf("Since the 448th: %d points from %d, want 3 from 997", len(newer), newer[0].Desired)
	}
	if last, ok := h.Last(); !ok || last.Desired != 999 {
		t.Fatalf("Last = %+v %v", last, ok)
	}
}

// TestHistoryMemoryBounded: recording does not allocate once the ring and
// the counter maps are warm, and the heap does not grow over hours of
// ticks, also when members come and go.
func TestHistoryMemoryBounded(t *testing.T) {
	h := NewHistory(SizeFor(15*time.Minute, 2*time.Second))
	members := make([]pool.Member, 20)
	for i := range members {
		members[i] = member(fmt.Sprintf("10.0.0.%d:9090", i), pool.StateReady, 10, 1, 0, time.Millisecond, uint64(i))
	}
	tick := 0
	record := func() {
		tick++
		for i := range members {
			members[i].Shed++
		}
		h.Record(Frame{Time: t0.Add(time.Duration(tick) * 2 * time.Second), Members: members})
	}
	for range 1000 {
		record()
	}
	if a := testing.AllocsPerRun(1000, record); a != 0 {
		t.Errorf("Record allocates %g times per tick once warm, want 0", a)
	}

	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	// Churn: every tick one member is replaced by a new one (new key).
	churn := func(n int) {
		for range n {
			members[tick%len(members)].Key = fmt.Sprintf("10.1.%d.%d:9090", tick/250%250, tick%250)
			record()
		}
	}
	churn(2000)
	before := heap()
	churn(40000) // 22 hours of 2 s ticks
	after := heap()
	// The ring and maps are a few tens of KiB; a leak of even one small
	// allocation per tick would add over 1 MiB here.
	if after > before+256<<10 {
		t.Errorf("heap grew from %d to %d bytes over 40000 ticks", before, after)
	}
}
