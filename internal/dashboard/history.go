package dashboard

import (
	"sync"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

// Frame is what this replica knows of the tier at one tick.
type Frame struct {
	Time time.Time
	// Members is the sibling table with this replica's own row in it.
	Members []pool.Member
	// Self is the Key of this replica's row in Members.
	Self string
	// Draining: this replica is being retired. Leader: it acts for the
	// tier. Error: the platform's last error ("" when fine).
	Draining, Leader bool
	Error            string
	// Desired, Running and Pending are the platform's replica counts as
	// last read (0 when unknown, e.g. the driver is off).
	Desired, Running, Pending int
}

// Point is one tick of the tier's history, as the page charts it. Keys are
// short: a full history is sent on every page load.
type Point struct {
	// T is the tick's time in Unix milliseconds.
	T       int64 `json:"t"`
	Desired int   `json:"desired"`
	Running int   `json:"running"`
	Pending int   `json:"pending"`
	// Ready counts the members in state ready, this replica included.
	Ready int `json:"ready"`
	// RPS, Inflight and Queued are sums over the members that are not down.
	RPS      float64 `json:"rps"`
	Inflight int     `json:"inflight"`
	Queued   int     `json:"queued"`
	// P50 and P95 are app latencies in milliseconds, the members' own
	// figures averaged with their request rates as weights (what the
	// autoscaler compares with the SLO); 0 (omitted) when nothing was
	// served.
	P50 float64 `json:"p50,omitempty"`
	P95 float64 `json:"p95,omitempty"`
	// Shed and Forwarded are requests shed (answered 503) and handed to a
	// sibling per second since the previous tick, summed member by member
	// (a member that appears or restarts adds nothing).
	Shed      float64 `json:"shed"`
	Forwarded float64 `json:"forwarded"`
}

// History keeps the last Size points in a ring allocated once.
type History struct {
	mu    sync.Mutex
	ring  []Point
	next  int // index the next point goes to
	count int // points held, at most len(ring)

	// The previous tick's cumulative counters by member key, to turn them
	// into rates. Two maps swapped and cleared each tick: no allocation
	// once warm.
	prevT     time.Time
	prev, cur map[string]counts
}

// counts are one member's cumulative counters.
type counts struct{ shed, fwd uint64 }

// NewHistory returns a History of size points (at least 2).
func NewHistory(size int) *History {
	size = max(size, 2)
	return &History{ring: make([]Point, size), prev: map[string]counts{}, cur: map[string]counts{}}
}

// SizeFor is the number of points that cover span at one point per tick.
func SizeFor(span, tick time.Duration) int {
	if tick <= 0 {
		return 2
	}
	return int((span+tick-1)/tick) + 1
}

// Size is how many points the ring holds.
func (h *History) Size() int { return len(h.ring) }

// Record turns f into a point, keeps it, and returns it.
func (h *History) Record(f Frame) Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := point(f)
	dt := f.Time.Sub(h.prevT).Seconds()
	var shed, fwd uint64
	for i := range f.Members {
		m := &f.Members[i]
		h.cur[m.Key] = counts{m.Shed, m.Forwarded}
		if prev, ok := h.prev[m.Key]; ok {
			shed += increase(prev.shed, m.Shed)
			fwd += increase(prev.fwd, m.Forwarded)
		}
	}
	if !h.prevT.IsZero() && dt > 0 {
		p.Shed, p.Forwarded = round3(float64(shed)/dt), round3(float64(fwd)/dt)
	}
	h.prevT = f.Time
	h.prev, h.cur = h.cur, h.prev
	clear(h.cur)

	h.ring[h.next] = p
	h.next = (h.next + 1) % len(h.ring)
	h.count = min(h.count+1, len(h.ring))
	return p
}

// increase is how much a counter grew; a counter that went back (its
// replica restarted) grew by nothing we can know.
func increase(prev, now uint64) uint64 {
	if now > prev {
		return now - prev
	}
	return 0
}

// point sums the frame's members into the tier's figures (rates aside).
func point(f Frame) Point {
	p := Point{T: f.Time.UnixMilli(), Desired: f.Desired, Running: f.Running, Pending: f.Pending}
	var rps, p50w, p95w float64
	for i := range f.Members {
		m := &f.Members[i]
		if m.State == pool.StateDown {
			continue
		}
		if m.State == pool.StateReady {
			p.Ready++
		}
		p.RPS += m.RPS
		p.Inflight += max(m.Inflight, 0)
		p.Queued += max(m.Queued, 0)
		if m.RPS > 0 && m.LatencyP95 > 0 {
			rps += m.RPS
			p50w += m.RPS * ms(m.LatencyP50)
			p95w += m.RPS * ms(m.LatencyP95)
		}
	}
	if rps > 0 {
		p.P50, p.P95 = round3(p50w/rps), round3(p95w/rps)
	}
	p.RPS = round3(p.RPS)
	return p
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// round3 keeps three decimals: enough for a chart, a third of the bytes.
func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

// Since returns the points newer than t (Unix milliseconds), oldest
// first; t = 0 returns them all.
func (h *History) Since(t int64) []Point {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Point, 0, h.count)
	start := (h.next - h.count + len(h.ring)) % len(h.ring)
	for i := 0; i < h.count; i++ {
		if p := h.ring[(start+i)%len(h.ring)]; p.T > t {
			out = append(out, p)
		}
	}
	return out
}

// Last returns the newest point and whether there is one.
func (h *History) Last() (Point, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count == 0 {
		return Point{}, false
	}
	return h.ring[(h.next-1+len(h.ring))%len(h.ring)], true
}
