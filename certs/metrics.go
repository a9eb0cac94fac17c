package certs

import (
	"crypto/tls"

	"github.com/prometheus/client_golang/prometheus"
)

// maxExpiryNames caps the names of mitosis_tls_certificate_expiry_seconds
// (a certificate may carry many SANs; the series must stay few).
const maxExpiryNames = 100

// Handshake failure reasons: a small fixed set, the values of the reason
// label of mitosis_tls_handshakes_total{result="error"}.
const (
	reasonTimeout       = "timeout"        // the client did not finish within the handshake timeout
	reasonClosed        = "closed"         // the client closed or reset the connection
	reasonNotTLS        = "not_tls"        // not a TLS record (plain HTTP to the HTTPS port, a scanner)
	reasonClientAlert   = "client_alert"   // the client rejected us (e.g. does not trust the certificate)
	reasonNoShared      = "no_shared"      // no common version, cipher suite, curve or ALPN protocol
	reasonNoCertificate = "no_certificate" // no certificate to serve yet (ACME has not obtained one)
	reasonOther         = "other"
)

var handshakeReasons = []string{reasonTimeout, reasonClosed, reasonNotTLS, reasonClientAlert, reasonNoShared, reasonNoCertificate, reasonOther}

// Metrics are the TLS series. One Metrics is shared by the Manager and the
// Handshaker of a replica.
type Metrics struct {
	handshakeOK  prometheus.Counter
	handshakeErr map[string]prometheus.Counter
	expiry       *prometheus.GaugeVec
	orders       *prometheus.CounterVec
	failing      prometheus.Gauge
	reloads      *prometheus.CounterVec
	syncs        *prometheus.CounterVec
}

// NewMetrics registers the TLS metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	hs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mitosis_tls_handshakes_total",
		Help: "TLS handshakes on the HTTPS listener by result (ok, error) and, for errors, reason.",
	}, []string{"result", "reason"})
	m := &Metrics{
		handshakeOK:  hs.WithLabelValues("ok", ""),
		handshakeErr: map[string]prometheus.Counter{},
		expiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mitosis_tls_certificate_expiry_seconds",
			Help: "Expiry (NotAfter, unix seconds) of the certificate served, per name it covers.",
		}, []string{"name"}),
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mitosis_tls_acme_orders_total",
			Help: "ACME certificate orders placed by this replica, by kind (obtain, renew) and result (ok, error).",
		}, []string{"kind", "result"}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mitosis_tls_acme_consecutive_failures",
			Help: "Failed ACME orders in a row on this replica (0 after a success); retried with exponential back-off.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mitosis_tls_reloads_total",
			Help: "Changes of the certificate files seen, by result (ok: now served, error: the old certificate stays).",
		}, []string{"result"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mitosis_tls_state_pulls_total",
			Help: "Pulls of the tier's TLS state from a sibling, by result (ok, error).",
		}, []string{"result"}),
	}
	for _, r := range handshakeReasons {
		m.handshakeErr[r] = hs.WithLabelValues("error", r)
	}
	for _, k := range []string{"obtain", "renew"} {
		for _, r := range []string{"ok", "error"} {
			m.orders.WithLabelValues(k, r)
		}
	}
	for _, r := range []string{"ok", "error"} {
		m.reloads.WithLabelValues(r)
		m.syncs.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{hs, m.expiry, m.orders, m.failing, m.reloads, m.syncs} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Metrics) handshake(reason string) {
	if reason == "" {
		m.handshakeOK.Inc()
		return
	}
	m.handshakeErr[reason].Inc()
}

// served sets the expiry gauge to the certificate now served.
func (m *Metrics) served(c *tls.Certificate) {
	m.expiry.Reset()
	if c == nil || c.Leaf == nil {
		return
	}
	names := c.Leaf.DNSNames
	if len(names) == 0 {
		names = []string{certName(c.Leaf)}
	}
	for i, n := range names {
		if i == maxExpiryNames {
			break
		}
		m.expiry.WithLabelValues(n).Set(float64(c.Leaf.NotAfter.Unix()))
	}
}
