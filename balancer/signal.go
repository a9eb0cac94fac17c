package balancer

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The load signal keeps, without locks, a sliding window of latency
// histograms: windowSlots one-second slots of log-scale buckets (four per
// power of two, so a quantile is off by at most ~19%), reused in a ring.
// Recording costs two atomic adds; a quantile reads windowSlots×buckets
// counters, which happens once per state poll, not per request.
const (
	windowSlots = 10
	subBits     = 2 // 2^subBits buckets per power of two
	numBuckets  = 30 << subBits
	// ewmaAlpha weighs the newest sample in the latency EWMA.
	ewmaAlpha = 0.1
)

type slot struct {
	epoch  atomic.Int64 // the unix second this slot counts, or 0
	count  atomic.Uint64
	bucket [numBuckets]atomic.Uint64
}

// window is a sliding-window latency histogram.
type window struct {
	slots [windowSlots]slot
	ewma  atomic.Uint64 // float64 bits, microseconds
}

// bucketOf maps a duration in microseconds to its bucket.
func bucketOf(us uint64) int {
	if us < 1<<subBits {
		return int(us)
	}
	e := bits.Len64(us) - 1 // position of the top bit, >= subBits
	mant := (us >> (uint(e) - subBits)) & (1<<subBits - 1)
	i := (e-subBits+1)<<subBits + int(mant)
	if i >= numBuckets {
		return numBuckets - 1
	}
	return i
}

// bucketUpper is the largest value (µs) that falls into bucket i.
func bucketUpper(i int) float64 {
	if i < 1<<subBits {
		return float64(i)
	}
	e := (i >> subBits) + subBits - 1
	mant := uint64(i & (1<<subBits - 1))
	lo := (1<<subBits | mant) << uint(e-subBits)
	return float64(lo + (1 << uint(e-subBits)) - 1)
}

func (w *window) record(now time.Time, d time.Duration) {
	sec := now.Unix()
	s := &w.slots[sec%windowSlots]
	if e := s.epoch.Load(); e != sec {
		// First record of a new second in this slot: claim it and clear the
		// counts of the second it held windowSlots ago. A record racing with
		// the clear may be lost; the signal is statistical.
		if s.epoch.CompareAndSwap(e, sec) {
			s.count.Store(0)
			for i := range s.bucket {
				s.bucket[i].Store(0)
			}
		}
	}
	us := uint64(d / time.Microsecond)
	s.bucket[bucketOf(us)].Add(1)
	s.count.Add(1)

	x := float64(us)
	for {
		old := w.ewma.Load()
		v := math.Float64frombits(old)
		nv := x
		if old != 0 {
			nv = v + ewmaAlpha*(x-v)
		}
		if w.ewma.CompareAndSwap(old, math.Float64bits(nv)) {
			return
		}
	}
}

// windowStats is a summary of the window at one moment.
type windowStats struct {
	Count         uint64
	P50, P95, P99 time.Duration
	EWMA          time.Duration
	Seconds       float64 // how many seconds of data the counts cover
}

func (w *window) stats(now time.Time) windowStats {
	var agg [numBuckets]uint64
	var total uint64
	sec := now.Unix()
	oldest := sec
	for i := range w.slots {
		s := &w.slots[i]
		e := s.epoch.Load()
		if e == 0 || e > sec || sec-e >= windowSlots {
			continue
		}
		if e < oldest {
			oldest = e
		}
		for b := range agg {
			n := s.bucket[b].Load()
			agg[b] += n
			total += n
		}
	}
	st := windowStats{
		Count: total,
		EWMA:  time.Duration(math.Float64frombits(w.ewma.Load()) * float64(time.Microsecond)),
	}
	// The current second is partly over; count it as the fraction elapsed so
	// a rate is not underestimated right after a slot turns.
	frac := float64(now.Nanosecond()) / 1e9
	st.Seconds = float64(sec-oldest) + frac
	if st.Seconds < 1 {
		st.Seconds = 1
	}
	if total == 0 {
		return st
	}
	st.P50 = quantile(&agg, total, 0.50)
	st.P95 = quantile(&agg, total, 0.95)
	st.P99 = quantile(&agg, total, 0.99)
	return st
}

func quantile(agg *[numBuckets]uint64, total uint64, q float64) time.Duration {
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range agg {
		seen += n
		if seen >= rank && n > 0 {
			return time.Duration(bucketUpper(i) * float64(time.Microsecond))
		}
	}
	return time.Duration(bucketUpper(numBuckets-1) * float64(time.Microsecond))
}

// Signal is the load of one replica: what it reports to its siblings and what
// the autoscaler sums. All methods are safe for concurrent use and lock-free.
type Signal struct {
	app   window // time inside the app
	total window // time including the queue
	shed  atomic.Uint64
	adm   *admission
}

// Snapshot is the signal at one moment.
type Snapshot struct {
	Inflight, Queued   int
	Capacity, QueueMax int
	RPS                float64
	App, Total         windowStats
	Shed               uint64
}

// Snapshot summarises the signal as of now.
func (s *Signal) Snapshot(now time.Time) Snapshot {
	app := s.app.stats(now)
	return Snapshot{
		Inflight: int(s.adm.inflight.Load()),
		Queued:   int(s.adm.queued.Load()),
		Capacity: int(s.adm.max),
		QueueMax: int(s.adm.queueMax),
		RPS:      float64(app.Count) / app.Seconds,
		App:      app,
		Total:    s.total.stats(now),
		Shed:     s.shed.Load(),
	}
}

func (w *window) ewmaDuration() time.Duration {
	return time.Duration(math.Float64frombits(w.ewma.Load()) * float64(time.Microsecond))
}
