package autoscale

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/spawner"
)

// fakeDriver is a platform in memory. Scale takes effect at once and bumps
// the version; a stale version is a conflict, as on Swarm.
type fakeDriver struct {
	mu        sync.Mutex
	St        spawner.Status
	StatusErr error
	ScaleErr  error // returned by every Scale while set
	Scales    []int // every n Scale was called with
	Statuses  int   // Status calls
}

func (f *fakeDriver) Status(context.Context) (spawner.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Statuses++
	return f.St, f.StatusErr
}

func (f *fakeDriver) Scale(_ context.Context, n int, version uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Scales = append(f.Scales, n)
	if f.ScaleErr != nil {
		return f.ScaleErr
	}
	if version != f.St.Version {
		return &spawner.ConflictError{Version: version, Err: errors.New("update out of sequence")}
	}
	f.St.Desired, f.St.Version = n, f.St.Version+1
	return nil
}

func (f *fakeDriver) set(fn func(f *fakeDriver)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeDriver) scales() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.Scales...)
}

// fakeSampler returns Concurrency c with Ready ready; it signals every call
// on Called (if set) for the Run test.
type fakeSampler struct {
	mu     sync.Mutex
	C      float64
	Ready  int
	Called chan time.Time
}

func (s *fakeSampler) Sample(now time.Time) Sample {
	s.mu.Lock()
	smp := Sample{Time: now, Concurrency: s.C, Ready: s.Ready}
	s.mu.Unlock()
	if s.Called != nil {
		s.Called <- now
	}
	return smp
}

type rig struct {
	loop *Loop
	drv  *fakeDriver
	smp  *fakeSampler
	reg  *prometheus.Registry
	logs *bytes.Buffer
	now  time.Time
	lead bool
}

func newRig(t *testing.T, cfg Config, desired int, c float64, opts ...Option) *rig {
	t.Helper()
	r := &rig{
		drv:  &fakeDriver{St: spawner.Status{Desired: desired, Running: desired, Version: 7}},
		smp:  &fakeSampler{C: c, Ready: desired},
		reg:  prometheus.NewRegistry(),
		logs: &bytes.Buffer{},
		now:  t0,
		lead: true,
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	l, err := NewLoop(cfg, r.drv, r.smp, ElectorFunc(func() bool { return r.lead }), r.reg, log,
		func() time.Time { return r.now }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	r.loop = l
	return r
}

func (r *rig) step() Decision {
	r.now = r.now.Add(r.loop.cfg.Tick)
	return r.loop.Step(context.Background(), r.now)
}

// metric reads one series from the registry ("" labels: unlabelled).
func (r *rig) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestLoopLeaderScales(t *testing.T) {
	cfg := DefaultConfig()
	r := newRig(t, cfg, 2, 14) // 14 / 7 → 2: nothing to do
	if d := r.step(); d.Result != ResultNoChange || d.Acted || len(r.drv.scales()) != 0 {
		t.Fatalf("steady: %+v, scales %v", d, r.drv.scales())
	}
	r.smp.C = 70 // → 10, in panic at once
	var d Decision
	for range 3 {
		d = r.step()
	}
	if d.Desired != 10 || r.drv.St.Desired != 10 {
		t.Fatalf("after three ticks at 70: %+v, driver %+v", d, r.drv.St)
	}
	if got := r.metric(t, "mitosis_scale_events_total", map[string]string{"direction": "up", "result": "ok"}); got < 1 {
		t.Errorf("scale events up/ok = %g, want >= 1", got)
	}
	if got := r.metric(t, "mitosis_replicas_desired", nil); got != 10 {
		t.Errorf("mitosis_replicas_desired = %g, want 10", got)
	}
	if got := r.metric(t, "mitosis_autoscale_panic", nil); got != 1 {
		t.Errorf("mitosis_autoscale_panic = %g, want 1", got)
	}
	// One log line per change of replicas, none for the quiet tick.
	if n, want := strings.Count(r.logs.String(), "autoscale: scaled"), len(r.drv.scales()); n != want {
		t.Errorf("%d 'scaled' log lines for %d scale calls:\n%s", n, want, r.logs)
	}
}

// TestLoopPlatformMetrics: the series the alert rules read (platform
// reachability, running replicas, the configured bounds) follow the
// driver's Status.
func TestLoopPlatformMetrics(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinReplicas, cfg.MaxReplicas = 2, 7
	r := newRig(t, cfg, 3, 21)
	r.drv.set(func(f *fakeDriver) { f.St.Running = 2 })
	if d := r.step(); d.Running != 2 {
		t.Fatalf("decision running = %d, want the driver's 2", d.Running)
	}
	for name, want := range map[string]float64{
		"mitosis_platform_up": 1, "mitosis_replicas_running": 2,
		"mitosis_replicas_min": 2, "mitosis_replicas_max": 7,
	} {
		if got := r.metric(t, name, nil); got != want {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}
	r.drv.set(func(f *fakeDriver) { f.StatusErr = errors.New("guard unreachable") })
	if d := r.step(); d.Running != 0 {
		t.Fatalf("decision running = %d without a Status, want 0", d.Running)
	}
	if got := r.metric(t, "mitosis_platform_up", nil); got != 0 {
		t.Errorf("mitosis_platform_up = %g while Status fails, want 0", got)
	}
	r.drv.set(func(f *fakeDriver) { f.StatusErr = nil })
	r.step()
	if got := r.metric(t, "mitosis_platform_up", nil); got != 1 {
		t.Errorf("mitosis_platform_up = %g after recovery, want 1", got)
	}
}

func TestLoopFollowerNeverScales(t *testing.T) {
	r := newRig(t, DefaultConfig(), 2, 70)
	r.lead = false
	for range 5 {
		if d := r.step(); d.Result != ResultFollower || d.Leader || d.Desired <= 2 {
			t.Fatalf("follower decision %+v", d)
		}
	}
	if s := r.drv.scales(); len(s) != 0 {
		t.Fatalf("follower called Scale %v", s)
	}
	if got := r.metric(t, "mitosis_autoscale_leader", nil); got != 0 {
		t.Errorf("mitosis_autoscale_leader = %g, want 0", got)
	}
}

// TestLoopFollowerReadsStatusSeldom: a follower reads Status once per
// followerStatusTicks ticks (and after an error, at once); the leader
// every tick, and at once when it becomes the leader.
func TestLoopFollowerReadsStatusSeldom(t *testing.T) {
	r := newRig(t, DefaultConfig(), 2, 70)
	r.lead = false
	calls := func() int {
		r.drv.mu.Lock()
		defer r.drv.mu.Unlock()
		return r.drv.Statuses
	}
	for i := range 2*followerStatusTicks + 1 {
		r.step()
		if want := i/followerStatusTicks + 1; calls() != want {
			t.Fatalf("after %d follower ticks: %d Status calls, want %d", i+1, calls(), want)
		}
	}
	// A follower decides on the reading it has: another replica scaled.
	r.drv.set(func(f *fakeDriver) { f.St.Desired = 5 })
	if d := r.step(); d.Current != 2 {
		t.Errorf("follower's current %d, want the cached 2", d.Current)
	}
	// A failed read is not kept: the next tick reads again.
	before := calls()
	r.drv.set(func(f *fakeDriver) { f.StatusErr = errors.New("daemon down") })
	for i := 0; calls() == before && i <= followerStatusTicks; i++ {
		r.step()
	}
	if d := r.loop.History()[len(r.loop.History())-1]; d.Result != ResultNoStatus {
		t.Fatalf("the failed read gave %+v", d)
	}
	r.drv.set(func(f *fakeDriver) { f.StatusErr = nil })
	r.step()
	if got := calls() - before; got != 2 {
		t.Errorf("%d Status calls for the failed read and the next tick, want 2", got)
	}
	// The new leader reads at once, and on every tick.
	r.lead = true
	before = calls()
	if d := r.step(); d.Current != 5 {
		t.Fatalf("new leader's current %d, want the fresh 5", d.Current)
	}
	r.step()
	r.step()
	if got := calls() - before; got != 3 {
		t.Errorf("leader made %d Status calls in 3 ticks, want 3", got)
	}
}

func TestLoopConflictRereadsNextTick(t *testing.T) {
	r := newRig(t, DefaultConfig(), 2, 70)
	// Another replica scales to 3 between our Status and Scale: simulate
	// by bumping the version under us on the first Scale.
	r.drv.set(func(f *fakeDriver) {
		f.ScaleErr = &spawner.ConflictError{Version: 7, Err: errors.New("update out of sequence")}
	})
	d := r.step()
	if d.Result != ResultConflict || d.Error != "" || d.Acted {
		t.Fatalf("conflict decision %+v, want result conflict, no error, not acted", d)
	}
	r.drv.set(func(f *fakeDriver) { f.ScaleErr, f.St.Desired, f.St.Version = nil, 3, 8 })
	d = r.step() // no cooldown: the next tick re-reads and acts
	if d.Result != ResultOK || d.Current != 3 || !d.Acted {
		t.Fatalf("tick after conflict %+v, want ok from current 3", d)
	}
	if got := r.metric(t, "mitosis_scale_events_total", map[string]string{"direction": "up", "result": "conflict"}); got != 1 {
		t.Errorf("conflict events = %g, want 1", got)
	}
	if strings.Contains(r.logs.String(), "level=WARN") {
		t.Errorf("a conflict was logged as a warning:\n%s", r.logs)
	}
}

func TestLoopDriverErrors(t *testing.T) {
	r := newRig(t, DefaultConfig(), 2, 70)
	r.smp.Ready = 2
	r.drv.set(func(f *fakeDriver) { f.StatusErr = errors.New("manager unreachable") })
	for range 3 {
		d := r.step()
		if d.Result != ResultNoStatus || d.Error != "status: manager unreachable" || d.Current != 2 || d.Acted {
			t.Fatalf("status failure decision %+v", d)
		}
	}
	if n := strings.Count(r.logs.String(), "driver status failed"); n != 1 {
		t.Errorf("status failure logged %d times over 3 ticks, want once:\n%s", n, r.logs)
	}
	if s := r.drv.scales(); len(s) != 0 {
		t.Fatalf("Scale called without a version: %v", s)
	}

	// Back, but Scale fails.
	r.drv.set(func(f *fakeDriver) { f.StatusErr, f.ScaleErr = nil, errors.New("engine said 500") })
	for range 2 {
		d := r.step()
		if d.Result != ResultError || d.Error != "scale: engine said 500" || d.Acted {
			t.Fatalf("scale failure decision %+v", d)
		}
	}
	if got := r.metric(t, "mitosis_scale_events_total", map[string]string{"direction": "up", "result": "error"}); got != 2 {
		t.Errorf("error events = %g, want 2", got)
	}
	logs := r.logs.String()
	if !strings.Contains(logs, "driver status works again") || strings.Count(logs, "scale failed") != 1 {
		t.Errorf("want one recovery and one scale failure line:\n%s", logs)
	}

	// Healthy again: scaling resumes.
	r.drv.set(func(f *fakeDriver) { f.ScaleErr = nil })
	if d := r.step(); d.Result != ResultOK || !d.Acted {
		t.Fatalf("after recovery %+v, want ok", d)
	}
}

func TestLoopDryRun(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DryRun = true
	r := newRig(t, cfg, 2, 70)
	for range 5 {
		if d := r.step(); d.Result != ResultDryRun || d.Acted || d.Desired != 10 || d.Current != 2 {
			t.Fatalf("dry run decision %+v", d)
		}
	}
	if s := r.drv.scales(); len(s) != 0 {
		t.Fatalf("dry run called Scale %v", s)
	}
	if n := strings.Count(r.logs.String(), "would scale"); n != 1 {
		t.Errorf("dry run logged %d times for one unchanged decision, want 1:\n%s", n, r.logs)
	}
	if got := r.metric(t, "mitosis_scale_events_total", map[string]string{"direction": "up", "result": "dry_run"}); got != 5 {
		t.Errorf("dry_run events = %g, want 5", got)
	}
}

func TestLoopNeverBeyondBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MinReplicas, cfg.MaxReplicas = 2, 4
	r := newRig(t, cfg, 9, 700) // the service was scaled by hand above max
	d := r.step()
	if got := r.drv.scales(); len(got) != 1 || got[0] != 4 || d.Desired != 4 {
		t.Fatalf("Scale calls %v, decision %+v, want one call with 4", got, d)
	}
	r = newRig(t, cfg, 1, 0) // scaled by hand below min
	d = r.step()
	if got := r.drv.scales(); len(got) != 1 || got[0] != 2 || d.Desired != 2 {
		t.Fatalf("Scale calls %v, decision %+v, want one call with min 2", got, d)
	}
}

func TestLoopHistory(t *testing.T) {
	r := newRig(t, DefaultConfig(), 2, 14)
	if h := r.loop.History(); len(h) != 0 {
		t.Fatalf("fresh history has %d entries", len(h))
	}
	for range HistorySize + 7 {
		r.step()
	}
	h := r.loop.History()
	if len(h) != HistorySize {
		t.Fatalf("history has %d entries, want %d", len(h), HistorySize)
	}
	if !h[len(h)-1].Time.Equal(r.now) || !h[0].Time.Equal(r.now.Add(-(HistorySize-1)*r.loop.cfg.Tick)) {
		t.Errorf("history spans %s..%s, want the last %d ticks ending %s", h[0].Time, h[len(h)-1].Time, HistorySize, r.now)
	}
	for i := 1; i < len(h); i++ {
		if !h[i].Time.After(h[i-1].Time) {
			t.Fatalf("history not oldest first at %d", i)
		}
	}
	b, err := json.Marshal(h[len(h)-1])
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"stable_concurrency":14`, `"desired":2`, `"result":"no_change"`, `"reason":"stable concurrency 14.0`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON %s lacks %s", b, k)
		}
	}
}

func TestLoopRunTicksAndPokes(t *testing.T) {
	ticks := make(chan time.Time)
	r := newRig(t, DefaultConfig(), 2, 14, WithTicks(ticks))
	r.smp.Called = make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.loop.Run(ctx) }()

	ticks <- t0
	<-r.smp.Called
	r.loop.Poke()
	r.loop.Poke() // merges with the pending one, never blocks
	<-r.smp.Called
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v, want nil on cancel", err)
	}
	if n := len(r.loop.History()); n < 2 || n > 3 {
		t.Fatalf("history has %d decisions after a tick and a (merged) poke, want 2 or 3", n)
	}
}

func TestNewLoopRejects(t *testing.T) {
	bad := DefaultConfig()
	bad.MaxReplicas = 0
	if _, err := NewLoop(bad, &fakeDriver{}, &fakeSampler{}, ElectorFunc(func() bool { return true }), nil, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "MITOSIS_MAX_REPLICAS=0") {
		t.Errorf("invalid config: err = %v", err)
	}
	if _, err := NewLoop(DefaultConfig(), nil, &fakeSampler{}, ElectorFunc(func() bool { return true }), nil, nil, nil); err == nil {
		t.Error("nil driver accepted")
	}
	reg := prometheus.NewRegistry()
	el := ElectorFunc(func() bool { return true })
	l, err := NewLoop(DefaultConfig(), &fakeDriver{}, SamplerFunc(func(now time.Time) Sample {
		return Sample{Time: now, Concurrency: 3, Ready: 1}
	}), el, reg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := l.Step(context.Background(), t0); d.StableConcurrency != 3 || d.Ready != 1 {
		t.Errorf("SamplerFunc sample not used: %+v", d)
	}
	if _, err := NewLoop(DefaultConfig(), &fakeDriver{}, &fakeSampler{}, el, reg, nil, nil); err == nil {
		t.Error("registering the metrics twice did not fail")
	}
}

// TestLoopPendingCapsAndReports: the platform cannot place 9 of 10; the
// leader scales to what runs, says why in the log, and the pending
// replicas show in mitosis_replicas_pending by reason.
func TestLoopPendingCapsAndReports(t *testing.T) {
	r := newRig(t, DefaultConfig(), 10, 70)
	r.drv.St = spawner.Status{Desired: 10, Running: 1, Pending: 9, PendingReason: spawner.PendingPort,
		PendingMessage: "no suitable node (host-mode port already in use on 1 node)", Placement: "1:n1", Version: 7}
	d := r.step()
	if d.Desired != 1 || d.Result != ResultOK || d.Pending != 9 || d.Cap != 1 {
		t.Fatalf("decision %+v, want scaled to 1 with 9 pending", d)
	}
	if got := r.metric(t, "mitosis_replicas_pending", map[string]string{"reason": "port"}); got != 9 {
		t.Errorf("mitosis_replicas_pending{reason=port} = %g, want 9", got)
	}
	if got := r.metric(t, "mitosis_replicas_pending", map[string]string{"reason": "resources"}); got != 0 {
		t.Errorf("mitosis_replicas_pending{reason=resources} = %g, want 0", got)
	}
	if !strings.Contains(r.logs.String(), "pending: 9 of 10 cannot be placed (port: no suitable node") {
		t.Errorf("log does not explain the pending replicas:\n%s", r.logs)
	}
	r.drv.set(func(f *fakeDriver) {
		f.St.Running, f.St.Pending, f.St.PendingReason, f.St.PendingMessage = 1, 0, "", ""
	})
	for range 5 {
		if d := r.step(); d.Desired != 1 || d.Cap != 1 {
			t.Fatalf("with the cap remembered: %+v, want 1", d)
		}
	}
	if got := r.metric(t, "mitosis_replicas_pending", map[string]string{"reason": "port"}); got != 0 {
		t.Errorf("mitosis_replicas_pending{reason=port} = %g once none pend, want 0", got)
	}
	if s := r.drv.scales(); len(s) != 1 {
		t.Errorf("scale calls %v, want one (to 1)", s)
	}
}
