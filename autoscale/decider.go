package autoscale

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Sample is the load of the whole service at one instant, as one replica
// sees it (its own figures plus its ready siblings').
type Sample struct {
	Time time.Time
	// Concurrency is in-flight plus queued requests summed over the ready
	// members, this replica included.
	Concurrency float64
	// Queued is the queued part of Concurrency.
	Queued int
	// Shed is the cumulative count of shed requests summed over the
	// members; the decider uses its increase between samples.
	Shed uint64
	// shedOf, set by SampleOf, is each member's own count by member key:
	// then the increase is summed member by member, over the members of
	// both samples, so a member that joins with a count of its own (or
	// restarts) does not read as a burst of shedding.
	shedOf map[string]uint64
	// P95 is the p95 latency across members (worst or weighted, as the
	// sampler chooses); compared with the LatencySLO. 0 means unknown.
	P95 time.Duration
	// Latency is the typical time a request holds a slot (app latency,
	// e.g. the members' EWMA). It turns shed requests into the concurrency
	// they would have added (Little's law). 0 means unknown: P95 is used,
	// and failing that the time since the previous sample.
	Latency time.Duration
	// Ready is the number of ready members, this replica included.
	Ready int
}

// Decision explains one tick: what was seen, what was decided and, filled
// in by the Loop, what was done.
type Decision struct {
	Time time.Time `json:"time"`
	// StableConcurrency and PanicConcurrency are the averaged demand
	// (concurrency plus shed demand) over the two windows.
	StableConcurrency float64 `json:"stable_concurrency"`
	PanicConcurrency  float64 `json:"panic_concurrency"`
	// Samples is how many samples the stable window held.
	Samples int `json:"samples"`
	// P95MS and Queued are from the newest sample.
	P95MS  float64 `json:"p95_ms"`
	Queued int     `json:"queued"`
	// ShedDelta is the increase of the shed count over the stable window.
	ShedDelta uint64 `json:"shed_delta"`
	Ready     int    `json:"ready"`
	Current   int    `json:"current"`
	Desired   int    `json:"desired"`
	// Running is how many replicas the platform reported running (0 when
	// its Status failed); Pending and PendingReason are what it could not
	// place (see Platform); Cap is the most replicas it was found able to
	// place, 0 when no cap holds.
	Running       int    `json:"running"`
	Pending       int    `json:"pending"`
	PendingReason string `json:"pending_reason,omitempty"`
	Cap           int    `json:"cap,omitempty"`
	Reason        string `json:"reason"`
	Panic         bool   `json:"panic"`
	// Leader reports whether this replica was the one allowed to act.
	Leader bool `json:"leader"`
	// Acted is true when Scale was called and succeeded.
	Acted bool `json:"acted"`
	// Result is one of the Result* constants.
	Result string `json:"result"`
	// Error is the driver error of this tick (Status or Scale), if any.
	Error string `json:"error,omitempty"`
}

// Results of a tick, as in Decision.Result and the result label of
// mitosis_scale_events_total (the last four only).
const (
	ResultNoChange = "no_change" // desired == current: nothing to do
	ResultFollower = "follower"  // another replica acts
	ResultNoStatus = "no_status" // the driver's Status failed: no version to act with
	ResultOK       = "ok"
	ResultConflict = "conflict" // lost the race: someone changed the service; re-read next tick
	ResultError    = "error"
	ResultDryRun   = "dry_run"
)

// scaleDownTolerance is the hysteresis of scale-down: a replica is removed
// only if the rest would stay under target with this much to spare. Without
// it a steady load whose mean sits near a replica boundary flaps every
// ScaleDownDelay as noise pushes the average across (the HPA has a 10%
// tolerance for the same reason).
const scaleDownTolerance = 0.1

// epsilon absorbs float error so that exactly 21 / 7 is 3, not 4.
const epsilon = 1e-9

// maxPoints bounds the sample window if something records far more often
// than every tick (a storm of pokes); old samples go first.
const maxPoints = 4096

type point struct {
	t         time.Time
	demand    float64 // concurrency + shed demand
	queued    int
	shedDelta uint64
	p95       time.Duration
	ready     int
}

type desire struct {
	t time.Time
	n int
}

// shedIncrease is how many requests were shed between the samples prev
// and cur. Per member where both have the counts (SampleOf): a member seen
// once, or whose count fell (it restarted), adds nothing. Otherwise from
// the sums, where a fall (a member left or restarted) counts as none.
func shedIncrease(prev, cur Sample) uint64 {
	if prev.shedOf == nil || cur.shedOf == nil {
		if cur.Shed > prev.Shed {
			return cur.Shed - prev.Shed
		}
		return 0
	}
	var n uint64
	for k, c := range cur.shedOf {
		if p, ok := prev.shedOf[k]; ok && c > p {
			n += c - p
		}
	}
	return n
}

// Decider turns samples into a desired replica count. It is deterministic:
// time comes only from the samples and the now passed to Decide. It is not
// safe for concurrent use (the Loop serialises it).
type Decider struct {
	cfg     Config
	points  []point  // oldest first, within StableWindow of the newest
	desires []desire // recent desires, for the scale-down delay
	last    Sample   // previous sample, for the shed increase
	started time.Time

	panicSince time.Time // last time the panic window was over threshold; zero: calm
	panicMax   int       // highest count asked for in this panic

	placed placementCap // what the platform could place, while it could not place all
}

// NewDecider returns a Decider for a validated cfg.
func NewDecider(cfg Config) *Decider { return &Decider{cfg: cfg} }

// Record adds a sample. Samples older than the newest one are dropped.
func (d *Decider) Record(s Sample) {
	if n := len(d.points); n > 0 && s.Time.Before(d.points[n-1].t) {
		return
	}
	p := point{t: s.Time, demand: max(s.Concurrency, 0), queued: s.Queued, p95: s.P95, ready: s.Ready}
	if d.started.IsZero() {
		d.started = s.Time
	} else if p.shedDelta = shedIncrease(d.last, s); p.shedDelta > 0 {
		dt := s.Time.Sub(d.last.Time)
		if dt <= 0 {
			dt = d.cfg.Tick
		}
		hold := s.Latency
		if hold <= 0 {
			hold = s.P95
		}
		if hold <= 0 {
			hold = dt
		}
		// Little's law: requests turned away at rate r that would each have
		// held a slot for `hold` are r × hold of unmet concurrency.
		p.demand += float64(p.shedDelta) / dt.Seconds() * hold.Seconds()
	}
	d.last = s
	d.points = append(d.points, p)
	cut := 0
	for cut < len(d.points) && !d.points[cut].t.After(s.Time.Add(-d.cfg.StableWindow)) {
		cut++
	}
	cut = max(cut, len(d.points)-maxPoints)
	d.points = d.points[cut:]
}

// window averages the demand of the samples in (now-w; now].
func (d *Decider) window(now time.Time, w time.Duration) (avg float64, n int, shed uint64, allQueued bool) {
	from := now.Add(-w)
	sum := 0.0
	allQueued = true
	for _, p := range d.points {
		if !p.t.After(from) || p.t.After(now) {
			continue
		}
		sum += p.demand
		shed += p.shedDelta
		allQueued = allQueued && p.queued > 0
		n++
	}
	if n == 0 {
		return 0, 0, 0, false
	}
	return sum / float64(n), n, shed, allQueued
}

// replicasFor is ceil(c / target), with float error absorbed.
func replicasFor(c, target float64) int {
	return int(math.Ceil(c/target - epsilon))
}

// Decide returns the desired replicas given what the platform reported
// (p.Desired is the current count). Each call advances the panic state,
// the scale-down delay and the placement cap, so call it once per tick
// with a non-decreasing now.
func (d *Decider) Decide(now time.Time, p Platform) Decision {
	cfg := d.cfg
	current := p.Desired
	dec := Decision{Time: now, Current: current, Running: p.Running, Pending: p.Pending, PendingReason: p.PendingReason}
	var why []string
	explain := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }
	placeNote := d.placed.observe(now, p, placementRetryTicks*cfg.Tick)
	finish := func(n int) Decision {
		if placeNote != "" {
			why = append([]string{placeNote}, why...)
		}
		n = d.placed.limit(n, explain)
		dec.Cap = d.placed.n
		if c := cfg.clamp(n); c != n {
			if c > n {
				explain("raised to min %d", c)
			} else {
				explain("capped at max %d", c)
			}
			n = c
		}
		dec.Desired = n
		dec.Panic = !d.panicSince.IsZero()
		dec.Reason = strings.Join(why, ", ")
		return dec
	}

	stable, samples, shed, _ := d.window(now, cfg.StableWindow)
	panicC, _, _, queuedThrough := d.window(now, cfg.PanicWindow)
	dec.StableConcurrency, dec.PanicConcurrency, dec.Samples, dec.ShedDelta = stable, panicC, samples, shed
	if samples == 0 {
		explain("no samples in the last %s, holding %d", cfg.StableWindow, current)
		return finish(current)
	}
	var newest point // the latest sample not after now; one exists as samples > 0
	for i := len(d.points) - 1; i >= 0; i-- {
		if !d.points[i].t.After(now) {
			newest = d.points[i]
			break
		}
	}
	dec.P95MS = float64(newest.p95) / float64(time.Millisecond)
	dec.Queued, dec.Ready = newest.queued, newest.ready

	target := cfg.TargetConcurrency * cfg.TargetUtilization
	base := float64(max(current, 1)) // rates and thresholds need a non-zero base
	stableWant := replicasFor(stable, target)
	panicWant := replicasFor(panicC, target)

	// Panic: a burst in the short window. Extended while the burst lasts;
	// it ends only after a whole stable window without one, so the burst
	// has made its way into the stable average before scale-down resumes.
	over := float64(panicWant) >= cfg.PanicThreshold*base
	switch {
	case over:
		d.panicSince = now
	case !d.panicSince.IsZero() && now.Sub(d.panicSince) >= cfg.StableWindow:
		d.panicSince, d.panicMax = time.Time{}, 0
	}
	panicking := !d.panicSince.IsZero()

	want := stableWant
	explain("stable concurrency %.1f / (%g × %g) → %d", stable, cfg.TargetConcurrency, cfg.TargetUtilization, stableWant)
	if want < current && !panicking {
		if hyst := replicasFor(stable*(1+scaleDownTolerance), target); hyst > want {
			want = min(current, hyst)
			explain("kept at %d for %.0f%% headroom", want, scaleDownTolerance*100)
		}
	}
	if panicking && panicWant > want {
		want = panicWant
		explain("panic concurrency %.1f → %d", panicC, panicWant)
	}
	if cfg.LatencySLO > 0 && newest.p95 > cfg.LatencySLO && queuedThrough && want <= current {
		want = current + 1
		explain("p95 %s > SLO %s with %d queued → %d", newest.p95.Round(time.Millisecond), cfg.LatencySLO, newest.queued, want)
	}

	// Scale-down delay: a lower count must be wanted for the whole delay.
	// The raw desire is recorded, before the step limits below, so a
	// rate-limited step down is not itself held for another delay. It only
	// ever holds a scale-down back; a past high desire that was not
	// acted on never causes a scale-up now.
	if cfg.ScaleDownDelay > 0 {
		d.desires = append(d.desires, desire{t: now, n: want})
		cut := 0
		for cut < len(d.desires) && !d.desires[cut].t.After(now.Add(-cfg.ScaleDownDelay)) {
			cut++
		}
		d.desires = d.desires[max(cut, len(d.desires)-maxPoints):]
		if want < current {
			highest := want
			for _, x := range d.desires {
				highest = max(highest, x.n)
			}
			if held := min(highest, current); held > want {
				want = held
				explain("scale-down delay %s holds %d", cfg.ScaleDownDelay, want)
			}
		}
	}

	if up := int(math.Ceil(base*cfg.ScaleUpRate - epsilon)); want > up {
		want = up
		explain("capped by max step up ×%g → %d", cfg.ScaleUpRate, want)
	}
	if down := int(math.Floor(base/cfg.ScaleDownRate + epsilon)); want < down {
		want = down
		explain("limited by max step down ÷%g → %d", cfg.ScaleDownRate, want)
	}

	if panicking {
		if hold := max(current, d.panicMax); want < hold {
			want = hold
			explain("panic: no scale-down, holding %d", want)
		}
		d.panicMax = max(d.panicMax, want)
	}

	// A fresh decider (a new replica, or a new leader after a restart) has
	// not seen a full window: its averages and delay history are too short
	// to justify removing capacity yet.
	if warm := max(cfg.StableWindow, cfg.ScaleDownDelay); want < current && now.Sub(d.started) < warm {
		want = current
		explain("warming up (%s of %s seen), no scale-down", now.Sub(d.started).Round(time.Second), warm)
	}
	return finish(want)
}
