package autoscale

import (
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// walker feeds a Decider one sample per tick and acts on every decision
// (current follows desired), walking time with now.Add.
type walker struct {
	d   *Decider
	cfg Config
	now time.Time
	cur int
}

func newWalker(cfg Config, cur int) *walker {
	return &walker{d: NewDecider(cfg), cfg: cfg, now: t0, cur: cur}
}

// tick records s (its Time set to the next tick) and decides.
func (w *walker) tick(s Sample) Decision {
	w.now = w.now.Add(w.cfg.Tick)
	s.Time = w.now
	w.d.Record(s)
	dec := w.d.Decide(w.now, Current(w.cur))
	w.cur = dec.Desired
	return dec
}

// run ticks n times at concurrency c and returns the decisions.
func (w *walker) run(n int, c float64) []Decision {
	out := make([]Decision, n)
	for i := range out {
		out[i] = w.tick(Sample{Concurrency: c, Ready: w.cur})
	}
	return out
}

// instant is a policy whose windows are one tick, so every desire follows
// the latest sample and expectations can be worked out by hand.
func instant() Config {
	c := DefaultConfig()
	c.StableWindow, c.PanicWindow = c.Tick, c.Tick
	c.MaxReplicas = 100
	return c
}

func desired(ds []Decision) []int {
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = d.Desired
	}
	return out
}

func TestDecideSteadyHolds(t *testing.T) {
	tests := []struct {
		name  string
		cur   int
		loads []float64 // repeated cyclically, one per tick
		want  int
	}{
		{"exact fit", 3, []float64{21}, 3},    // 21 / 7 = 3 exactly: no float rounding up
		{"under target", 3, []float64{18}, 3}, // 18 / 7 → 3
		{"noisy around 18", 3, []float64{14, 22, 18, 25, 11, 19, 16, 23}, 3},
		{"noisy at a boundary", 4, []float64{19, 23, 21, 24, 18, 22, 20, 21}, 4}, // mean 21: 3 would fit exactly, hysteresis keeps 4
		{"idle at min", 1, []float64{0}, 1},
		// Mean 20.5, just under the 21 that 3 replicas fit: quiet stretches
		// longer than window + delay, then short bursts. Without the
		// scale-down headroom this flaps 4 → 3 → 4 every two minutes.
		{"bursty near a boundary", 4, append(repeat(20, 55), repeat(26, 5)...), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWalker(DefaultConfig(), tt.cur)
			for i := range 300 { // 10 minutes
				d := w.tick(Sample{Concurrency: tt.loads[i%len(tt.loads)], Ready: w.cur})
				if d.Desired != tt.want || d.Panic {
					t.Fatalf("tick %d: desired %d panic %t (%s), want %d steady", i, d.Desired, d.Panic, d.Reason, tt.want)
				}
			}
		})
	}
}

func TestDecideStepUpPanics(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxReplicas = 100
	w := newWalker(cfg, 3)
	w.run(40, 18)
	ds := w.run(5, 90) // ×5
	if !ds[0].Panic || ds[0].Desired <= 3 {
		t.Fatalf("first tick after the step: desired %d panic %t (%s), want panic and more than 3", ds[0].Desired, ds[0].Panic, ds[0].Reason)
	}
	if !strings.Contains(ds[0].Reason, "panic concurrency") {
		t.Errorf("reason %q does not mention panic concurrency", ds[0].Reason)
	}
	// Once the panic window (3 ticks) is full of the new load: ceil(90/7).
	if got := desired(ds); got[2] != 13 {
		t.Errorf("desired after the step = %v, want 13 by the third tick", got)
	}
	for i := 1; i < len(ds); i++ {
		if ds[i].Desired < ds[i-1].Desired {
			t.Errorf("desired fell during a step: %v", desired(ds))
		}
	}
}

func TestDecidePanicBlocksScaleDown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ScaleDownDelay = 0 // the delay would mask the panic hold
	w := newWalker(cfg, 3)
	w.run(40, 18)
	spikeStart := w.now.Add(cfg.Tick)
	spike := w.run(2, 140) // a 4 s spike
	top := spike[len(spike)-1].Desired
	if top < 10 {
		t.Fatalf("spike scaled to %d, want >= 10: %v", top, desired(spike))
	}
	lastOver := w.now
	after := w.run(150, 18)
	var calm time.Time
	for i, d := range after {
		at := lastOver.Add(time.Duration(i+1) * cfg.Tick)
		if d.Panic && d.Desired < top {
			t.Fatalf("at +%s desired %d < %d while panicking (%s)", at.Sub(lastOver), d.Desired, top, d.Reason)
		}
		if !d.Panic && calm.IsZero() {
			calm = at
		}
	}
	// Panic lasts a whole stable window after the last tick over the
	// threshold, which is within the spike.
	if calm.IsZero() || calm.Sub(spikeStart) < cfg.StableWindow || calm.Sub(lastOver) > cfg.StableWindow {
		t.Fatalf("panic ended %s after the spike began (%s after it ended), want one stable window %s",
			calm.Sub(spikeStart), calm.Sub(lastOver), cfg.StableWindow)
	}
	if got := after[len(after)-1].Desired; got != 3 {
		t.Errorf("after the spike and the delays desired = %d, want back to 3", got)
	}
}

func TestDecideScaleDownDelay(t *testing.T) {
	cfg := instant()
	cfg.ScaleDownDelay = 10 * time.Second // 5 ticks
	cfg.ScaleDownRate = 1000              // isolate the delay
	w := newWalker(cfg, 10)
	var got []int
	got = append(got, desired(w.run(6, 70))...) // desire 10; warm after 10 s
	got = append(got, desired(w.run(5, 35))...) // desire 6 (5 + headroom), held by the 10 at tick 6
	got = append(got, desired(w.run(5, 14))...) // desire 3 (2 + headroom), held by the 6s
	got = append(got, desired(w.run(2, 14))...)
	want := []int{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 6, 6, 6, 6, 6, 3, 3, 3}
	if !equal(got, want) {
		t.Fatalf("desired = %v\nwant      %v", got, want)
	}
}

func TestDecideScaleDownDelayHighestWins(t *testing.T) {
	cfg := instant()
	cfg.ScaleDownDelay = 10 * time.Second
	cfg.ScaleDownRate = 1000
	w := newWalker(cfg, 10)
	w.run(10, 70)
	w.run(1, 56) // desire 9 once (8 + headroom)
	ds := w.run(6, 7)
	// The 10s of the last 10 s hold first, then the lone 9 holds until it
	// is 10 s old, then the floor is 2 (1 + headroom).
	if got, want := desired(ds), []int{10, 10, 10, 9, 2, 2}; !equal(got, want) {
		t.Fatalf("desired = %v, want %v", got, want)
	}
	if !strings.Contains(ds[3].Reason, "scale-down delay 10s holds 9") {
		t.Errorf("reason %q does not explain the delay", ds[3].Reason)
	}
}

func TestDecideLimits(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Config)
		cur    int
		loads  []float64
		want   []int
		reason string // in the first decision
	}{
		{"step up rate", func(c *Config) { c.ScaleUpRate = 4 }, 2, []float64{700, 700, 700}, []int{8, 32, 100}, "capped by max step up ×4 → 8"},
		{"step down rate", func(c *Config) { c.ScaleDownDelay = 0 }, 40, []float64{0, 0, 0, 0, 0, 0}, []int{20, 10, 5, 2, 1, 1}, "limited by max step down ÷2 → 20"},
		{"max", func(c *Config) { c.MaxReplicas = 10 }, 3, []float64{700, 700}, []int{10, 10}, "capped at max 10"},
		{"current above max", func(c *Config) { c.MaxReplicas = 10 }, 15, []float64{700}, []int{10}, "capped at max 10"},
		{"min", func(c *Config) { c.MinReplicas, c.ScaleDownDelay = 3, 0 }, 4, []float64{0, 0}, []int{3, 3}, "raised to min 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := instant()
			tt.edit(&cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			w := newWalker(cfg, tt.cur)
			w.d.Record(Sample{Time: t0.Add(-time.Hour)}) // warm: started long ago
			var ds []Decision
			for _, c := range tt.loads {
				ds = append(ds, w.tick(Sample{Concurrency: c, Ready: w.cur}))
			}
			if got := desired(ds); !equal(got, tt.want) {
				t.Errorf("desired = %v, want %v (%s)", got, tt.want, ds[0].Reason)
			}
			if !strings.Contains(ds[0].Reason, tt.reason) {
				t.Errorf("reason %q does not contain %q", ds[0].Reason, tt.reason)
			}
		})
	}
}

func TestDecideSLO(t *testing.T) {
	tests := []struct {
		name   string
		slo    time.Duration
		p95    time.Duration
		queued []int // per tick, the last three fill the panic window
		want   int
	}{
		{"slow and queued", time.Second, 2 * time.Second, []int{5, 5, 5}, 4},
		{"slow, queue only now", time.Second, 2 * time.Second, []int{0, 0, 5}, 3},
		{"slow, no queue", time.Second, 2 * time.Second, []int{0, 0, 0}, 3},
		{"queued but fast", time.Second, 500 * time.Millisecond, []int{5, 5, 5}, 3},
		{"rule off", 0, 2 * time.Second, []int{5, 5, 5}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.LatencySLO = tt.slo
			d := NewDecider(cfg)
			now := t0
			for i := range 20 { // fill the stable window at 18 (→ 3)
				now = t0.Add(time.Duration(i) * cfg.Tick)
				q := tt.queued[max(0, len(tt.queued)-20+i)]
				d.Record(Sample{Time: now, Concurrency: 18, Queued: q, P95: tt.p95, Ready: 3})
			}
			dec := d.Decide(now, Current(3))
			if dec.Desired != tt.want {
				t.Fatalf("desired %d (%s), want %d", dec.Desired, dec.Reason, tt.want)
			}
			if tt.want == 4 && !strings.Contains(dec.Reason, "p95 2s > SLO 1s with 5 queued → 4") {
				t.Errorf("reason %q does not explain the SLO bump", dec.Reason)
			}
		})
	}
}

func TestDecideShedIsDemand(t *testing.T) {
	tests := []struct {
		name     string
		shedStep int64 // added to the cumulative count per 2 s tick
		latency  time.Duration
		p95      time.Duration
		want     int
	}{
		{"no shedding", 0, 200 * time.Millisecond, 0, 3},
		// 100 per 2 s = 50/s × 0.2 s = 10 more: 28 / 7 → 4.
		{"shed with app latency", 100, 200 * time.Millisecond, time.Second, 4},
		// No app latency: p95 stands in, 50/s × 0.5 s = 25: 43 / 7 → 7.
		{"shed with p95 only", 100, 0, 500 * time.Millisecond, 7},
		// Neither: each shed request counts for one tick, 50/s × 2 s: 118 / 7 → 17.
		{"shed without latency", 100, 0, 0, 17},
		// A falling sum (a member left) is no demand.
		{"counter falls", -100, 200 * time.Millisecond, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWalker(instant(), 3)
			shed := int64(10_000)
			var d Decision
			for range 5 {
				shed += tt.shedStep
				d = w.tick(Sample{Concurrency: 18, Shed: uint64(shed), Latency: tt.latency, P95: tt.p95, Ready: 3})
			}
			if d.Desired != tt.want {
				t.Fatalf("desired %d (%s), want %d", d.Desired, d.Reason, tt.want)
			}
			if tt.shedStep > 0 && d.ShedDelta != uint64(tt.shedStep) {
				t.Errorf("shed delta %d, want %d", d.ShedDelta, tt.shedStep)
			}
		})
	}
}

func TestDecideWarmUpAndNoData(t *testing.T) {
	cfg := DefaultConfig()
	d := NewDecider(cfg)
	if dec := d.Decide(t0, Current(4)); dec.Desired != 4 || !strings.Contains(dec.Reason, "no samples") {
		t.Fatalf("no data: desired %d (%s), want 4 held", dec.Desired, dec.Reason)
	}
	// A fresh decider at 10 replicas seeing no load keeps them for
	// max(stable window, delay) = 60 s, then halves.
	w := newWalker(cfg, 10)
	ds := w.run(32, 0)
	for i, dec := range ds[:30] {
		if dec.Desired != 10 {
			t.Fatalf("tick %d (+%ds): desired %d (%s), want 10 while warming up", i, 2*i, dec.Desired, dec.Reason)
		}
	}
	if !strings.Contains(ds[0].Reason, "warming up") {
		t.Errorf("reason %q does not explain the warm-up", ds[0].Reason)
	}
	// Calm for the whole delay: one halving step per tick, not one step
	// per delay (the delay remembers raw desires, not rate-limited steps).
	if ds[30].Desired != 5 || ds[31].Desired != 2 {
		t.Errorf("after warm-up desired %d then %d (%s), want 5 then 2", ds[30].Desired, ds[31].Desired, ds[31].Reason)
	}
}

func TestDecideIgnoresOldAndFutureSamples(t *testing.T) {
	cfg := instant()
	d := NewDecider(cfg)
	d.Record(Sample{Time: t0, Concurrency: 70})
	d.Record(Sample{Time: t0.Add(-time.Second), Concurrency: 700}) // out of order: dropped
	if dec := d.Decide(t0, Current(10)); dec.Desired != 10 || dec.Samples != 1 {
		t.Fatalf("desired %d from %d samples (%s), want 10 from 1", dec.Desired, dec.Samples, dec.Reason)
	}
	d.Record(Sample{Time: t0.Add(time.Minute), Concurrency: 700}) // later than now
	if dec := d.Decide(t0, Current(10)); dec.Desired != 10 {
		t.Fatalf("a sample after now counted: desired %d (%s)", dec.Desired, dec.Reason)
	}
}

func repeat(c float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = c
	}
	return out
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
