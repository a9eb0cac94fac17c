package health

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/pool"
)

// stateFetcher is what the prober needs from *pool.Fetcher.
type stateFetcher interface {
	Fetch(ctx context.Context, adminAddr string) (pool.State, error)
}

// Prober polls every sibling's /_mitosis/state each interval and applies
// Judge to the table. Run must be called at most once; ProbeOnce must not
// run concurrently with itself or Run.
type Prober struct {
	store  *pool.Store
	f      stateFetcher
	cfg    Config
	selfID string
	log    *slog.Logger
	now    func() time.Time
	rng    *rand.Rand
	polls  *prometheus.CounterVec
}

// NewProber returns a prober writing to store. selfID is this replica's id:
// a member that reports it is this replica (discovery found ourselves) and
// is removed for good (pool.Store.ExcludeSelf). A nil log discards; a nil
// now is time.Now. cfg should have passed Validate; zero fields take the
// defaults.
func NewProber(store *pool.Store, f *pool.Fetcher, cfg Config, selfID string, log *slog.Logger, now func() time.Time) *Prober {
	def := DefaultConfig()
	if cfg.Interval <= 0 {
		cfg.Interval = def.Interval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.Fails <= 0 {
		cfg.Fails = def.Fails
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = def.Concurrency
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	if f == nil {
		f = &pool.Fetcher{}
	}
	seed := uint64(now().UnixNano())
	return &Prober{
		store: store, f: f, cfg: cfg, selfID: selfID, log: log, now: now,
		rng: rand.New(rand.NewPCG(seed, 0x6d69746f736973)),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mitosis_state_polls_total",
			Help: "State polls of siblings by result (ok or error).",
		}, []string{"result"}),
	}
}

// Register registers mitosis_state_polls_total on reg, both results at 0
// from the first scrape, so rate() and alerts see the first failure.
func (p *Prober) Register(reg prometheus.Registerer) error {
	p.polls.WithLabelValues("ok")
	p.polls.WithLabelValues("error")
	return reg.Register(p.polls)
}

// Run polls at once and then every Interval until ctx ends. A round that
// takes longer than Interval delays the next one instead of overlapping it.
func (p *Prober) Run(ctx context.Context) {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.ProbeOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ProbeOnce polls every member once and returns when all polls are done.
//
// To scale to 100 members without a stampede, poll starts are spread over the
// first half of the interval (member i of n starts at a random point of the
// i-th of n equal slots) and at most Concurrency polls are in flight; each
// poll has its own Timeout. Polls cut short by ctx are not counted as
// failures.
func (p *Prober) ProbeOnce(ctx context.Context) {
	members := p.store.List()
	if len(members) == 0 {
		return
	}
	spread := p.cfg.Interval / 2
	slot := spread / time.Duration(len(members))
	start := time.Now()
	sem := make(chan struct{}, p.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	// Stopped at once, armed per wait (since Go 1.23 Reset on a stopped
	// timer never delivers a stale tick).
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for i, m := range members {
		at := time.Duration(i)*slot + time.Duration(p.rng.Float64()*float64(slot))
		if wait := at - time.Since(start); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			p.poll(ctx, m)
		})
	}
}

func (p *Prober) poll(ctx context.Context, m pool.Member) {
	addr := m.AdminAddr
	if addr == "" {
		addr = m.Key
	}
	pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	st, err := p.f.Fetch(pctx, addr)
	cancel()
	if ctx.Err() != nil {
		return // shutting down; the sibling did nothing wrong
	}
	if err != nil {
		p.polls.WithLabelValues("error").Inc()
	} else {
		p.polls.WithLabelValues("ok").Inc()
		if p.selfID != "" && st.ID == p.selfID {
			p.store.ExcludeSelf(m.Key)
			p.log.Debug("discovered own address; excluding it", "addr", m.Key)
			return
		}
	}
	now := p.now()
	var before, after pool.MemberState
	var id string
	p.store.Update(m.Key, func(cur *pool.Member) {
		before = cur.State
		*cur = Judge(*cur, st, err, now, p.cfg.Fails)
		after, id = cur.State, cur.ID
	})
	// Log transitions only, never every poll; name the replica as well as
	// its address (the id a failed poll leaves is the last one reported).
	if before != after {
		if id == "" {
			id = "(not polled yet)"
		}
		attrs := []any{"sibling", m.Key, "sibling_id", id, "from", before, "to", after}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		p.log.Info("sibling state changed", attrs...)
	}
}
