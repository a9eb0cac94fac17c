package autoscale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/spawner"
)

// HistorySize is how many decisions History keeps.
const HistorySize = 50

// driver is the platform as the loop needs it; spawner.Driver satisfies it.
type driver interface {
	Status(ctx context.Context) (spawner.Status, error)
	Scale(ctx context.Context, n int, version uint64) error
}

// sampler yields the service's load as this replica sees it at now.
type sampler interface {
	Sample(now time.Time) Sample
}

// SamplerFunc adapts a function to the sampler the Loop consumes, e.g.
//
//	autoscale.SamplerFunc(func(now time.Time) autoscale.Sample {
//		return autoscale.SampleOf(now, append(store.List(), selfMember()))
//	})
type SamplerFunc func(now time.Time) Sample

// Sample calls f.
func (f SamplerFunc) Sample(now time.Time) Sample { return f(now) }

// elector says whether this replica is the one that acts. It is an
// interface so main can back it with the pool and Leader; ElectorFunc
// adapts a plain func.
type elector interface {
	IsLeader() bool
}

// Option configures a Loop beyond NewLoop's arguments.
type Option func(*Loop)

// WithTicks makes Run tick on c instead of a time.Ticker of cfg.Tick, so
// tests drive it without sleeping.
func WithTicks(c <-chan time.Time) Option { return func(l *Loop) { l.ticks = c } }

// Loop runs the decider every tick on every replica and, on the leader,
// calls the driver. See the package doc for its concurrency contract.
type Loop struct {
	cfg   Config
	drv   driver
	smp   sampler
	el    elector
	log   *slog.Logger
	now   func() time.Time
	ticks <-chan time.Time
	poke  chan struct{}
	m     *metrics

	stepMu       sync.Mutex // serialises Step; guards the fields below
	dec          *Decider
	lastStatus   string // last Status error logged, "" when healthy
	lastScale    string // last Scale error logged, "" when healthy
	lastDryRun   [2]int // last (current, desired) logged in dry run
	loggedDryRun bool
	seen         spawner.Status // the last Status read, for followers
	seenAt       time.Time      // when it was read; zero: none

	histMu sync.Mutex // guards hist, n
	hist   [HistorySize]Decision
	n      int // decisions ever recorded
}

// NewLoop returns a Loop for a valid cfg. d is the platform (a
// spawner.Driver), s the load source, e the election (see ElectorFunc).
// Metrics are registered on reg (nil: not registered); log nil discards;
// now nil is time.Now.
func NewLoop(cfg Config, d driver, s sampler, e elector, reg prometheus.Registerer, log *slog.Logger, now func() time.Time, opts ...Option) (*Loop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d == nil || s == nil || e == nil {
		return nil, errors.New("autoscale: NewLoop needs a driver, a sampler and an elector")
	}
	m, err := newMetrics(reg, cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	l := &Loop{
		cfg: cfg, drv: d, smp: s, el: e, log: log, now: now, m: m,
		poke: make(chan struct{}, 1),
		dec:  NewDecider(cfg),
	}
	for _, o := range opts {
		o(l)
	}
	return l, nil
}

// Run calls Step on every tick and poke until ctx is done, then returns
// nil. Call it once.
func (l *Loop) Run(ctx context.Context) error {
	ticks := l.ticks
	if ticks == nil {
		t := time.NewTicker(l.cfg.Tick)
		defer t.Stop()
		ticks = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
		case <-l.poke:
		}
		if ctx.Err() != nil {
			return nil
		}
		l.Step(ctx, l.now())
	}
}

// Poke asks Run for an early tick (e.g. when shedding starts). It never
// blocks; pokes while one is pending merge.
func (l *Loop) Poke() {
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// callTimeout bounds one driver call so a hung platform cannot stall the
// loop for more than about a tick.
func (l *Loop) callTimeout() time.Duration { return max(l.cfg.Tick, time.Second) }

// Step runs one tick at now: sample, read Status, decide, act if leading,
// and record the decision, which it returns.
func (l *Loop) Step(ctx context.Context, now time.Time) Decision {
	l.stepMu.Lock()
	defer l.stepMu.Unlock()

	s := l.smp.Sample(now)
	l.dec.Record(s)

	leader := l.el.IsLeader()
	st, statusErr := l.status(ctx, now, leader)
	p := Platform{Status: st}
	if statusErr != nil {
		p = Current(s.Ready) // the best guess of what runs
		p.Unknown = true
	}

	d := l.dec.Decide(now, p)
	d.Leader = leader
	var scaleErr error
	switch {
	case statusErr != nil:
		// Scale needs the version Status reads; without it, wait.
		d.Result, d.Error = ResultNoStatus, "status: "+statusErr.Error()
	case d.Desired == d.Current:
		d.Result = ResultNoChange
	case !d.Leader:
		d.Result = ResultFollower
	case l.cfg.DryRun:
		d.Result = ResultDryRun
	default:
		cctx, cancel := context.WithTimeout(ctx, l.callTimeout())
		scaleErr = l.drv.Scale(cctx, l.cfg.clamp(d.Desired), st.Version)
		cancel()
		switch {
		case scaleErr == nil:
			d.Result, d.Acted = ResultOK, true
		case spawner.IsConflict(scaleErr):
			// Someone else changed the service since Status: normal, not a
			// failure and no cooldown; the next tick re-reads.
			d.Result = ResultConflict
		default:
			d.Result, d.Error = ResultError, "scale: "+scaleErr.Error()
		}
	}
	l.report(d, statusErr, scaleErr)
	l.m.observe(d)

	l.histMu.Lock()
	l.hist[l.n%HistorySize] = d
	l.n++
	l.histMu.Unlock()
	return d
}

// followerStatusTicks: a follower reads the platform's Status once per
// this many ticks and decides on that reading in between. Its decisions
// are only reported (state, metrics), and with every replica calling the
// Engine API each tick, 100 replicas made 50 service inspections a
// second on the Swarm manager. The leader reads it every tick: it acts on
// it, with the version Scale needs.
const followerStatusTicks = 10

// status reads the platform's Status, or for a follower the last reading
// while it is younger than followerStatusTicks ticks.
func (l *Loop) status(ctx context.Context, now time.Time, leader bool) (spawner.Status, error) {
	if !leader && !l.seenAt.IsZero() && now.Sub(l.seenAt) < followerStatusTicks*l.cfg.Tick {
		return l.seen, nil
	}
	cctx, cancel := context.WithTimeout(ctx, l.callTimeout())
	defer cancel()
	st, err := l.drv.Status(cctx)
	if err != nil {
		l.seenAt = time.Time{}
		return st, err
	}
	l.seen, l.seenAt = st, now
	return st, nil
}

// report logs what changed: one line per change of replicas (or of the
// would-be change in dry run), one per change of driver error; nothing on
// quiet ticks.
func (l *Loop) report(d Decision, statusErr, scaleErr error) {
	attrs := []any{"current", d.Current, "desired", d.Desired, "panic", d.Panic, "reason", d.Reason}
	l.lastStatus = logErrChange(l.log, l.lastStatus, statusErr, "autoscale: driver status failed", "autoscale: driver status works again")
	switch d.Result {
	case ResultOK:
		l.lastScale = ""
		l.log.Info("autoscale: scaled", attrs...)
	case ResultConflict:
		l.lastScale = ""
		l.log.Debug("autoscale: lost the scale race, re-reading next tick", append(attrs, "err", scaleErr)...)
	case ResultError:
		l.lastScale = logErrChange(l.log, l.lastScale, scaleErr, "autoscale: scale failed", "")
	case ResultDryRun:
		if pair := [2]int{d.Current, d.Desired}; !l.loggedDryRun || pair != l.lastDryRun {
			l.lastDryRun, l.loggedDryRun = pair, true
			l.log.Info("autoscale: dry run, would scale", attrs...)
		}
	}
}

// logErrChange logs err if its text differs from last (or, when err is nil
// after an error, logs recovered unless it is empty) and returns the new
// last text.
func logErrChange(log *slog.Logger, last string, err error, failed, recovered string) string {
	switch {
	case err == nil && last != "":
		if recovered != "" {
			log.Info(recovered)
		}
		return ""
	case err != nil && err.Error() != last:
		log.Warn(failed, "err", err)
		return err.Error()
	}
	return last
}

// History returns the recorded decisions, oldest first, at most
// HistorySize.
func (l *Loop) History() []Decision {
	l.histMu.Lock()
	defer l.histMu.Unlock()
	k := min(l.n, HistorySize)
	out := make([]Decision, 0, k)
	for i := l.n - k; i < l.n; i++ {
		out = append(out, l.hist[i%HistorySize])
	}
	return out
}

// String names the loop's policy for start-up logs.
func (l *Loop) String() string {
	return fmt.Sprintf("autoscale(min=%d max=%d target=%g×%g tick=%s dry_run=%t)",
		l.cfg.MinReplicas, l.cfg.MaxReplicas, l.cfg.TargetConcurrency, l.cfg.TargetUtilization, l.cfg.Tick, l.cfg.DryRun)
}
