package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Tier is where this replica stands in its tier, as the Manager needs it.
// The wiring answers from the sibling table and the autoscaler's election.
type Tier interface {
	// Leader reports whether this replica obtains and renews the tier's
	// certificate. Replicas whose views differ may both say yes for a
	// moment; Config.Settle and the pull before every order keep that
	// from costing a second order.
	Leader() bool
	// Peers lists the admin addresses (host:port) of the siblings to pull
	// the tier's state from, the leader first.
	Peers() []string
}

// Manager holds the certificate the HTTPS listener serves and, with ACME,
// the tier's replicated state; Run keeps both current.
type Manager struct {
	cfg  Config
	tier Tier
	log  *slog.Logger
	now  func() time.Time
	m    *Metrics

	cur     atomic.Pointer[tls.Certificate]
	ready   atomic.Bool
	started time.Time
	poke    chan struct{}

	files *reloader // with certificate files; used by Run only

	mu     sync.Mutex // guards what the admin and challenge handlers read
	acct   *account
	cert   *issued
	own    map[string]string // challenges this replica published
	remote map[string]string // challenges pulled from siblings

	// The leader's bookkeeping, used by Run's goroutine only.
	leaderSince time.Time
	fails       int
	nextTry     time.Time

	misses   *rate.Limiter // challenge look-ups forwarded to siblings
	peer     *http.Client
	acmeHTTP *http.Client
}

// New loads the certificate files, or the stored ACME state, and returns
// a Manager; Run starts reloading, pulling and ordering. tier may be nil
// without ACME. A nil now is time.Now.
func New(cfg Config, tier Tier, m *Metrics, log *slog.Logger, now func() time.Time) (*Manager, error) {
	if now == nil {
		now = time.Now
	}
	if m == nil {
		var err error
		if m, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	mg := &Manager{cfg: cfg, tier: tier, log: log, now: now, m: m, started: now(),
		poke: make(chan struct{}, 1), own: map[string]string{}, remote: map[string]string{},
		// A hostile client may ask for made-up tokens; each miss costs a
		// request to a sibling, so only a few per second go out.
		misses:   rate.NewLimiter(10, 20),
		peer:     cfg.PeerClient,
		acmeHTTP: cfg.ACMEClient,
	}
	if mg.peer == nil {
		mg.peer = &http.Client{Timeout: 5 * time.Second}
	}
	if mg.acmeHTTP == nil {
		mg.acmeHTTP = &http.Client{Timeout: time.Minute}
	}
	if !cfg.ACME() {
		mg.files = &reloader{certFile: cfg.CertFile, keyFile: cfg.KeyFile}
		c, err := mg.files.check(now())
		if err != nil {
			return nil, err
		}
		mg.serve(c)
		mg.ready.Store(true)
		return mg, nil
	}
	if cfg.StoreDir != "" {
		if err := os.MkdirAll(cfg.StoreDir, 0o700); err != nil {
			return nil, fmt.Errorf("MITOSIS_TLS_STORE=%q: %w", cfg.StoreDir, err)
		}
		s, err := loadStore(cfg.StoreDir)
		if err != nil {
			log.Warn("TLS store unreadable: starting without it", "dir", cfg.StoreDir, "err", err)
		}
		mg.adopt(s, false, "store")
		mg.ready.Store(mg.cur.Load() != nil)
	}
	return mg, nil
}

// TLSConfig is the HTTPS listener's configuration, serving this Manager's
// certificate.
func (mg *Manager) TLSConfig() *tls.Config { return ServerTLSConfig(mg.getCertificate) }

func (mg *Manager) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := mg.cur.Load(); c != nil {
		return c, nil
	}
	return nil, errNoCertificate
}

// Certificate is the certificate served now (nil before ACME got one).
func (mg *Manager) Certificate() *tls.Certificate { return mg.cur.Load() }

// Ready reports whether this replica may report ready: it serves a
// certificate, or it has pulled the tier's state from a sibling once (the
// tier has none yet), or Config.Settle has passed since it started.
func (mg *Manager) Ready() bool { return mg.ready.Load() }

// Poke makes Run check now instead of at its next interval.
func (mg *Manager) Poke() {
	select {
	case mg.poke <- struct{}{}:
	default:
	}
}

// Run reloads the files, or pulls, orders and renews with ACME, until ctx
// ends.
func (mg *Manager) Run(ctx context.Context) {
	every := mg.cfg.ReloadInterval
	if mg.cfg.ACME() {
		every = mg.cfg.SyncInterval
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-mg.poke:
		}
		if mg.files != nil {
			mg.reload()
		} else {
			mg.step(ctx)
		}
		next := every
		if !mg.ready.Load() {
			// A new replica pulls often until it has the tier's state: it
			// reports ready only then.
			next = min(every, 250*time.Millisecond)
		}
		t.Reset(next)
	}
}

func (mg *Manager) reload() {
	c, err := mg.files.check(mg.now())
	switch {
	case err != nil:
		mg.m.reloads.WithLabelValues("error").Inc()
		mg.log.Error("TLS files changed but do not load: still serving the previous certificate", "err", err)
	case c != nil:
		mg.m.reloads.WithLabelValues("ok").Inc()
		mg.serve(c)
		mg.log.Info("TLS certificate reloaded", "names", c.Leaf.DNSNames, "not_after", c.Leaf.NotAfter)
	}
}

// serve makes c the certificate handshakes get.
func (mg *Manager) serve(c *tls.Certificate) {
	mg.cur.Store(c)
	mg.m.served(c)
}
