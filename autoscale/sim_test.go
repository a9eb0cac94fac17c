package autoscale

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// The profile, in virtual seconds. Service time 200 ms, so the steady
// 80/s is a concurrency of 16 (3 replicas at 10 × 0.7) and the step to
// 400/s is 80 (12 replicas by target, 8 by raw capacity).
const (
	baseRate  = 80.0
	stepRate  = 5 * baseRate
	spikeRate = 25 * baseRate

	stepAt      = 120 * time.Second
	rampDownAt  = 240 * time.Second
	lowAgainAt  = 300 * time.Second
	spikeAt     = 420 * time.Second
	spikeEnd    = 430 * time.Second
	sawtoothAt  = 480 * time.Second
	sawtoothEnd = 600 * time.Second
	simEnd      = 840 * time.Second
)

func profile(t time.Duration) float64 {
	switch {
	case t < stepAt:
		return baseRate
	case t < rampDownAt:
		return stepRate
	case t < lowAgainAt: // linear ramp down over a minute
		f := float64(t-rampDownAt) / float64(lowAgainAt-rampDownAt)
		return stepRate + f*(baseRate-stepRate)
	case t >= spikeAt && t < spikeEnd:
		return spikeRate
	case t >= sawtoothAt && t < sawtoothEnd: // 80 → 240 over 20 s, drop, repeat
		f := float64((t-sawtoothAt)%(20*time.Second)) / float64(20*time.Second)
		return baseRate * (1 + 2*f)
	default:
		return baseRate
	}
}

func simConfig() Config {
	c := DefaultConfig()
	c.MaxReplicas = 20
	return c
}

var simP = simParams{
	step:       100 * time.Millisecond,
	service:    200 * time.Millisecond,
	capacity:   10, // MITOSIS_MAX_INFLIGHT of a CPU-bound app
	queueMax:   50,
	startDelay: 5 * time.Second, // a Swarm task: schedule, pull cached image, start, healthy
	seed:       42,
}

func TestSimulation(t *testing.T) {
	cfg := simConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	target := cfg.TargetConcurrency * cfg.TargetUtilization
	enough := int(math.Ceil(stepRate * simP.service.Seconds() / float64(simP.capacity))) // no queueing at the step rate
	targetN := int(math.Ceil(stepRate*simP.service.Seconds()/target - epsilon))

	runs := []struct {
		name string
		pol  policy
	}{
		{"mitosis", &ours{d: NewDecider(cfg)}},
		{"hpa", &hpa{target: target, min: cfg.MinReplicas, max: cfg.MaxReplicas}},
	}
	traces := map[string]trace{}
	for _, r := range runs {
		traces[r.name] = run(simP, profile, r.pol, 3, simEnd)
	}
	ours, hpa := traces["mitosis"], traces["hpa"]

	t.Run("step reaches enough replicas quickly", func(t *testing.T) {
		// One tick to see the step, one to act, the start delay, one tick
		// of slack for the panic window to fill.
		bound := 3*cfg.Tick + simP.startDelay
		got := ours.firstFrom(stepAt, func(ready, _ int) bool { return ready >= enough })
		if got < 0 || got > bound {
			t.Errorf("ready >= %d replicas %s after the step, want within %s", enough, got, bound)
		}
		asked := ours.firstFrom(stepAt, func(_, asked int) bool { return asked >= targetN })
		if asked < 0 || asked > 3*cfg.Tick {
			t.Errorf("asked for >= %d (the target count) %s after the step, want within 3 ticks", targetN, asked)
		}
	})

	t.Run("no oscillation in steady phases", func(t *testing.T) {
		// Within a phase of constant load the count may still settle in
		// one direction (giving back an overshoot) but never turns back.
		for _, ph := range []struct{ from, to time.Duration }{
			{0, stepAt},
			{stepAt + 10*time.Second, rampDownAt},
			{lowAgainAt, spikeAt},
			{spikeEnd + 10*time.Second, sawtoothAt},
			{sawtoothEnd, simEnd},
		} {
			ev := ours.eventsIn(ph.from, ph.to)
			for i := 1; i < len(ev); i++ {
				if (ev[i].to > ev[i].from) != (ev[i-1].to > ev[i-1].from) {
					t.Errorf("reversal in the steady phase [%s, %s): %v", ph.from, ph.to, ev)
					break
				}
			}
		}
		// Settled steady load: not one event.
		for _, ph := range []struct{ from, to time.Duration }{{0, stepAt}, {sawtoothEnd + 150*time.Second, simEnd}} {
			if ev := ours.eventsIn(ph.from, ph.to); len(ev) != 0 {
				t.Errorf("scale events at settled steady load in [%s, %s): %v", ph.from, ph.to, ev)
			}
		}
	})

	t.Run("never above max", func(t *testing.T) {
		if ours.maxAsked > cfg.MaxReplicas {
			t.Errorf("asked for %d replicas, max is %d", ours.maxAsked, cfg.MaxReplicas)
		}
		if ev := ours.eventsIn(spikeAt, spikeEnd+cfg.Tick); len(ev) == 0 {
			t.Errorf("no reaction to the spike at all")
		}
	})

	t.Run("scale-down only after the delay", func(t *testing.T) {
		var lastUp time.Duration = -1
		downs := 0
		for _, e := range ours.events {
			if e.to > e.from {
				lastUp = e.at
				continue
			}
			downs++
			if lastUp >= 0 && e.at-lastUp < cfg.ScaleDownDelay {
				t.Errorf("scale-down %d→%d at %s, only %s after the scale-up at %s", e.from, e.to, e.at, e.at-lastUp, lastUp)
			}
		}
		if downs == 0 {
			t.Error("never scaled down")
		}
	})

	t.Run("back to size after the load drops", func(t *testing.T) {
		base := ours.asked[ours.at(stepAt)]
		got := ours.firstFrom(lowAgainAt, func(_, asked int) bool { return asked <= base })
		// Stable window to forget, scale-down delay, halving steps.
		if bound := cfg.StableWindow + cfg.ScaleDownDelay + 30*time.Second; got < 0 || got > bound {
			t.Errorf("back to %d replicas %s after the load dropped, want within %s", base, got, bound)
		}
	})

	// The comparison, visible with -v.
	t.Logf("profile: %g/s steady, ×5 step at %s, ramp down %s–%s, spike ×25 %s–%s, sawtooth %s–%s; service %s, %d slots + %d queue per replica, start delay %s",
		baseRate, stepAt, rampDownAt, lowAgainAt, spikeAt, spikeEnd, sawtoothAt, sawtoothEnd, simP.service, simP.capacity, simP.queueMax, simP.startDelay)
	t.Logf("%-8s %14s %14s %14s %14s %12s %10s %8s %7s", "policy", "enough ready", "target asked", "scale down", "replica·s", "queueing s", "shed", "ticks", "events")
	for _, name := range []string{"mitosis", "hpa"} {
		tr := traces[name]
		base := tr.asked[tr.at(stepAt)]
		t.Logf("%-8s %14s %14s %14s %14.0f %12.1f %10d %8d %7d", name,
			fmtDur(tr.firstFrom(stepAt, func(ready, _ int) bool { return ready >= enough })),
			fmtDur(tr.firstFrom(stepAt, func(_, asked int) bool { return asked >= targetN })),
			fmtDur(tr.firstFrom(lowAgainAt, func(_, asked int) bool { return asked <= base })),
			tr.replicaSeconds(), tr.queueingSeconds(), tr.shed, tr.ticks, len(tr.events))
	}
	t.Logf("enough ready = time after the step until ready replicas (%d) serve the step rate without queueing; target asked = until %d replicas are asked for; scale down = after the load is low again until back to the pre-step count", enough, targetN)
	t.Logf("mitosis events: %v", ours.events)
	t.Logf("hpa events:     %v", hpa.events)
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return d.String()
}

func (e scaleEvent) String() string { return fmt.Sprintf("%s:%d→%d", e.at, e.from, e.to) }
