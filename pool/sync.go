package pool

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// SyncConfig configures the discovery loop.
type SyncConfig struct {
	// Interval between discovery rounds (MITOSIS_SYNC_INTERVAL, default 1s),
	// each one jittered by ±10% so replicas started together drift apart.
	Interval time.Duration
	// Timeout bounds one Discover call; 0 means Interval.
	Timeout time.Duration
	// SelfAdmin lists this replica's own admin addresses (host:port as
	// siblings would see them); discovery results with these are dropped.
	SelfAdmin []string
	// Seed seeds the jitter; 0 means seeded from the clock.
	Seed uint64
}

// DefaultSyncConfig returns Interval 1s, Timeout = Interval.
func DefaultSyncConfig() SyncConfig {
	return SyncConfig{Interval: time.Second}
}

// Validate reports the first invalid setting.
func (c SyncConfig) Validate() error {
	if c.Interval < 10*time.Millisecond || c.Interval > 10*time.Minute {
		return fmt.Errorf("MITOSIS_SYNC_INTERVAL = %s, must be in [10ms; 10m]", c.Interval)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("discovery timeout = %s, must be >= 0 (0 means the sync interval)", c.Timeout)
	}
	for _, a := range c.SelfAdmin {
		if err := checkHostPort(a); err != nil {
			return fmt.Errorf("own admin address %q: %w", a, err)
		}
	}
	return nil
}

// Syncer runs discovery every interval and reconciles the store with it.
// Run must be called at most once; SyncOnce is safe to call from one
// goroutine at a time.
type Syncer struct {
	store *Store
	d     Discovery
	cfg   SyncConfig
	log   *slog.Logger
	now   func() time.Time
	rng   *rand.Rand

	lastErr string // last discovery error logged ("" = healthy)
}

// NewSyncer returns a Syncer. A nil log discards, a nil now is time.Now.
// The own admin addresses are excluded in the store at once.
func NewSyncer(store *Store, d Discovery, cfg SyncConfig, log *slog.Logger, now func() time.Time) *Syncer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultSyncConfig().Interval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = cfg.Interval
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(now().UnixNano())
	}
	for _, a := range cfg.SelfAdmin {
		store.ExcludeSelf(a)
	}
	return &Syncer{
		store: store, d: d, cfg: cfg, log: log, now: now,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Run syncs at once, then every jittered interval until ctx ends.
func (s *Syncer) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_ = s.SyncOnce(ctx)
		t.Reset(s.nextDelay())
	}
}

// nextDelay is Interval ± 10%.
func (s *Syncer) nextDelay() time.Duration {
	return Jitter(s.cfg.Interval, 0.1, s.rng.Float64())
}

// Jitter returns d scaled by a factor in [1-frac; 1+frac], where u in [0; 1)
// picks the point: u=0.5 gives d exactly.
func Jitter(d time.Duration, frac, u float64) time.Duration {
	return time.Duration(float64(d) * (1 + frac*(2*u-1)))
}

// SyncOnce runs discovery once and reconciles the table. On error the table
// is kept as it was (a DNS hiccup must not empty the pool); the error is
// logged only when it differs from the previous one, and recovery is logged
// once.
func (s *Syncer) SyncOnce(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	targets, err := s.d.Discover(dctx)
	if err != nil {
		if msg := err.Error(); msg != s.lastErr {
			s.lastErr = msg
			s.log.Warn("discovery failed; keeping the sibling table", "err", err)
		}
		return err
	}
	if s.lastErr != "" {
		s.lastErr = ""
		s.log.Info("discovery recovered", "targets", len(targets))
	}
	s.store.Reconcile(targets, s.now())
	return nil
}
