package autoscale

import (
	"math"
	"math/rand/v2"
	"time"
)

// This file is the discrete-time model the simulation drives: requests
// arrive (Poisson) at a rate that follows a profile, each holds a slot for
// a fixed service time, every replica has a fixed number of slots, excess
// requests queue (bounded per replica) and beyond that are shed. Replicas
// asked for become ready after a start delay; removed ones go at once
// (starting ones first), their in-flight requests finishing elsewhere.
// Virtual time only: nothing sleeps.

type simParams struct {
	step       time.Duration // model resolution
	service    time.Duration // time a request holds a slot
	capacity   int           // slots per replica
	queueMax   int           // queue places per ready replica
	startDelay time.Duration // asked for → ready
	seed       uint64
}

// rate is arrivals per second at virtual time t.
type rate func(t time.Duration) float64

type cluster struct {
	p        simParams
	rng      *rand.Rand
	k        int   // service time in steps
	done     []int // ring: requests finishing at step i%k
	inflight int
	queue    int
	ready    int
	starting []time.Duration // when each starting replica becomes ready
	shed     uint64
	i        int // step count
}

func newCluster(p simParams, replicas int) *cluster {
	k := int(p.service / p.step)
	return &cluster{p: p, rng: rand.New(rand.NewPCG(p.seed, 1)), k: k, done: make([]int, k), ready: replicas}
}

func (c *cluster) now() time.Duration { return time.Duration(c.i) * c.p.step }

// total is the replica count the platform is asked for.
func (c *cluster) total() int { return c.ready + len(c.starting) }

// scale asks for n replicas.
func (c *cluster) scale(n int) {
	for c.total() < n {
		c.starting = append(c.starting, c.now()+c.p.startDelay)
	}
	for c.total() > n && len(c.starting) > 0 {
		c.starting = c.starting[:len(c.starting)-1] // the newest start is cancelled first
	}
	if c.total() > n {
		c.ready = n
	}
}

// advance runs one model step at the rate r(now).
func (c *cluster) advance(r rate) {
	c.i++
	now := c.now()
	kept := c.starting[:0]
	for _, at := range c.starting {
		if at <= now {
			c.ready++
		} else {
			kept = append(kept, at)
		}
	}
	c.starting = kept

	slot := c.i % c.k
	c.inflight -= c.done[slot]
	c.done[slot] = 0

	c.queue += c.poisson(r(now) * c.p.step.Seconds())
	free := max(c.ready*c.p.capacity-c.inflight, 0)
	start := min(free, c.queue)
	c.queue -= start
	c.inflight += start
	c.done[slot] += start // finishes k steps from now: the same ring slot
	if over := c.queue - c.ready*c.p.queueMax; over > 0 {
		c.queue -= over
		c.shed += uint64(over)
	}
}

// p95 approximates the latency of a request arriving now: its service
// time plus the time to drain the queue ahead of it.
func (c *cluster) p95() time.Duration {
	if c.ready == 0 {
		return c.p.service
	}
	perSec := float64(c.ready*c.p.capacity) / c.p.service.Seconds()
	return c.p.service + time.Duration(float64(c.queue)/perSec*float64(time.Second))
}

func (c *cluster) sample(at time.Time) Sample {
	return Sample{
		Time: at, Concurrency: float64(c.inflight + c.queue), Queued: c.queue, Shed: c.shed,
		P95: c.p95(), Latency: c.p.service, Ready: c.ready,
	}
}

// poisson draws arrivals for one step: exact for small means, a rounded
// normal for large ones (the model's noise, not its accuracy, matters).
func (c *cluster) poisson(mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*c.rng.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= c.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// policy decides every period from the cluster and returns the replicas
// to ask for.
type policy interface {
	period() time.Duration
	decide(c *cluster, at time.Time, meanConcurrency float64) int
}

// ours drives the real Decider.
type ours struct{ d *Decider }

func (o *ours) period() time.Duration { return o.d.cfg.Tick }

func (o *ours) decide(c *cluster, at time.Time, _ float64) int {
	o.d.Record(c.sample(at))
	return o.d.Decide(at, Current(c.total())).Desired
}

// hpa is the plain Kubernetes HPA rule with its default behaviour:
// desired = ceil(current × metric / target) every 15 s, skipped within a
// 10% tolerance, up at most max(×2, +4) per period, down to the highest
// recommendation of the last 300 s. The metric is the mean concurrency per
// replica over the period, pods not ready counting as 0 (as the HPA does
// on scale-up), and shed requests are invisible to it.
type hpa struct {
	target   float64 // per replica, = TargetConcurrency × TargetUtilization
	min, max int
	recs     []desire
}

func (h *hpa) period() time.Duration { return 15 * time.Second }

func (h *hpa) decide(c *cluster, at time.Time, mean float64) int {
	cur := c.total()
	metric := mean / float64(max(cur, 1))
	want := cur
	if ratio := metric / h.target; math.Abs(ratio-1) > 0.1 {
		want = int(math.Ceil(float64(cur)*ratio - epsilon))
	}
	want = min(want, max(2*cur, cur+4))
	h.recs = append(h.recs, desire{t: at, n: want})
	for len(h.recs) > 0 && !h.recs[0].t.After(at.Add(-300*time.Second)) {
		h.recs = h.recs[1:]
	}
	if want < cur {
		for _, r := range h.recs {
			want = max(want, min(r.n, cur))
		}
	}
	return min(max(want, h.min), h.max)
}

// trace is what one run produced, one entry per model step.
type trace struct {
	p        simParams
	asked    []int // replicas asked for (ready + starting)
	ready    []int
	queued   []int
	shed     uint64
	events   []scaleEvent
	ticks    int
	maxAsked int
}

type scaleEvent struct {
	at       time.Duration
	from, to int
}

// run simulates d of virtual time under r with policy pol, starting with
// replicas ready.
func run(p simParams, r rate, pol policy, replicas int, d time.Duration) trace {
	c := newCluster(p, replicas)
	tr := trace{p: p}
	every := int(pol.period() / p.step)
	sum, n := 0.0, 0
	for c.now() < d {
		c.advance(r)
		sum += float64(c.inflight + c.queue)
		n++
		if c.i%every == 0 {
			at := t0.Add(c.now())
			before := c.total()
			want := pol.decide(c, at, sum/float64(n))
			sum, n = 0, 0
			tr.ticks++
			if want != before {
				c.scale(want)
				tr.events = append(tr.events, scaleEvent{at: c.now(), from: before, to: want})
			}
		}
		tr.asked = append(tr.asked, c.total())
		tr.ready = append(tr.ready, c.ready)
		tr.queued = append(tr.queued, c.queue)
		tr.maxAsked = max(tr.maxAsked, c.total())
	}
	tr.shed = c.shed
	return tr
}

// at is the index of virtual time t in the per-step slices.
func (tr trace) at(t time.Duration) int { return int(t/tr.p.step) - 1 }

// firstFrom returns the first time >= from at which ok holds for the
// ready count, or -1.
func (tr trace) firstFrom(from time.Duration, ok func(ready, asked int) bool) time.Duration {
	for i := max(tr.at(from), 0); i < len(tr.ready); i++ {
		if ok(tr.ready[i], tr.asked[i]) {
			return time.Duration(i+1)*tr.p.step - from
		}
	}
	return -1
}

func (tr trace) replicaSeconds() float64 {
	s := 0
	for _, a := range tr.asked {
		s += a
	}
	return float64(s) * tr.p.step.Seconds()
}

func (tr trace) queueingSeconds() float64 {
	n := 0
	for _, q := range tr.queued {
		if q > 0 {
			n++
		}
	}
	return float64(n) * tr.p.step.Seconds()
}

// eventsIn returns the scale events in [from, to).
func (tr trace) eventsIn(from, to time.Duration) []scaleEvent {
	var out []scaleEvent
	for _, e := range tr.events {
		if e.at >= from && e.at < to {
			out = append(out, e)
		}
	}
	return out
}
