package balancer

import (
	"io"
	"log"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

var discardLog = log.New(io.Discard, "", 0)

// defaultLatency stands in for a sibling's latency before anything is known.
const defaultLatency = time.Millisecond

// candidate is a sibling that may take a request, with its expected wait.
type candidate struct {
	m    *pool.Member
	p    *peer
	cost float64
}

// pick returns the ready sibling with room and the lowest expected wait
// (latency × (outstanding + 1), Peak-EWMA style), skipping the keys in
// tried and those whose load is not below `below`. Up to fullScanMax members are scanned in full; above that two
// random choices are compared.
func (f *forwarder) pick(tried []string, below int64) (*pool.Member, *peer, bool) {
	members := f.sib.Ready()
	n := len(members)
	if n == 0 {
		return nil, nil, false
	}
	var best candidate
	found := false
	consider := func(i int) {
		c, ok := f.candidate(&members[i], tried, below)
		if ok && (!found || c.cost < best.cost) {
			best, found = c, true
		}
	}
	if n <= fullScanMax {
		for i := range members {
			consider(i)
		}
	} else {
		// Two random choices; if neither is usable, a few more draws, then
		// a full scan so a request is never queued while a sibling has room.
		for draw := 0; draw < 4 && !found; draw++ {
			consider(f.intn(n))
			consider(f.intn(n))
		}
		if !found {
			for i := range members {
				consider(i)
			}
		}
	}
	if !found {
		return nil, nil, false
	}
	return best.m, best.p, true
}

// candidate decides, in one place, whether m can take a request now and at
// what expected cost.
func (f *forwarder) candidate(m *pool.Member, tried []string, below int64) (candidate, bool) {
	if m.State != pool.StateReady || m.Addr == "" || m.ID == f.h.cfg.ID {
		return candidate{}, false
	}
	for _, k := range tried {
		if k == m.Key {
			return candidate{}, false
		}
	}
	p := f.peerFor(m)
	load := int64(m.Inflight + m.Queued)
	if at := p.loadAt.Load(); at != 0 && at > m.Updated.UnixNano() {
		load = p.load.Load()
	}
	out := p.outstanding.Load()
	if out > load {
		load = out
	}
	capacity := int64(m.Capacity)
	if capacity <= 0 {
		capacity = 1
	}
	// A front (ForwardOnly) has no slot of its own: a sibling at capacity
	// queues the request, and the cost below prefers one with room.
	full := load >= capacity && !f.h.cfg.ForwardOnly
	if full || load >= below {
		return candidate{}, false
	}
	lat := float64(m.LatencyEWMA)
	if v := p.ewmaUS.Load(); v != 0 {
		lat = float64FromBits(v) * float64(time.Microsecond)
	}
	if lat <= 0 {
		lat = float64(defaultLatency)
	}
	return candidate{m: m, p: p, cost: lat * float64(load+1)}, true
}
