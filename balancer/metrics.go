package balancer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the balancer's Prometheus series. Label values are resolved
// once here so the hot path does no map lookups.
type metrics struct {
	duration  [6]prometheus.Observer // by status class; index 0 = other
	queueWait prometheus.Observer
	shed      prometheus.Counter
	// delivering: requests whose app part is done but whose response the
	// client has not taken yet (their slot went back when a write stalled).
	delivering prometheus.Gauge
	forwarded  map[string]prometheus.Counter // by outcome
	retries    map[string]prometheus.Counter // by reason
}

// Forward outcomes and retry reasons, the only label values used.
const (
	outcomeOK    = "ok"
	outcomeError = "error"
	outcomeRetry = "retried"
	// outcomeCanceled: the client went away before the sibling answered.
	outcomeCanceled = "canceled"
	reasonDial      = "dial"
	reasonSent      = "after_write"
	reasonNoRoom    = "budget_exhausted"
	labelOutcome    = "outcome"
	labelReason     = "reason"
	labelStatus     = "code"
	metricsPrefix   = "mitosis_"
)

var statusClasses = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func newMetrics(reg prometheus.Registerer, sig *Signal) *metrics {
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricsPrefix + "request_duration_seconds",
		Help:    "Time from arrival to the end of the response, by status class, including queueing and forwarding.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{labelStatus})
	wait := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    metricsPrefix + "queue_wait_seconds",
		Help:    "Time requests waited in the local queue for a slot (only requests that queued).",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	shed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: metricsPrefix + "shed_total",
		Help: "Requests answered 503 because no slot, sibling or queue place was free in time.",
	})
	fwd := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricsPrefix + "forwarded_total",
		Help: "Forwarding attempts by outcome: ok, error (502 sent), retried (tried elsewhere), canceled (the client left).",
	}, []string{labelOutcome})
	retr := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricsPrefix + "retries_total",
		Help: "Forwarding retries by reason (dial: nothing was sent; after_write: idempotent request re-sent; budget_exhausted: a retry was refused).",
	}, []string{labelReason})
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: metricsPrefix + "inflight",
		Help: "Requests inside the app now.",
	}, func() float64 { return float64(sig.adm.inflight.Load()) })
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: metricsPrefix + "queue_depth",
		Help: "Requests waiting for a slot now.",
	}, func() float64 { return float64(sig.adm.queued.Load()) })
	capacity := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: metricsPrefix + "capacity",
		Help: "MITOSIS_MAX_INFLIGHT of this replica.",
	}, func() float64 { return float64(sig.adm.max) })
	delivering := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: metricsPrefix + "delivering",
		Help: "Requests whose response the client is slow to read: they gave their slot back when a write to the client had to wait.",
	})
	reg.MustRegister(dur, wait, shed, fwd, retr, inflight, queued, capacity, delivering)

	m := &metrics{
		queueWait:  wait,
		shed:       shed,
		delivering: delivering,
		forwarded:  map[string]prometheus.Counter{},
		retries:    map[string]prometheus.Counter{},
	}
	for i, c := range statusClasses {
		m.duration[i] = dur.WithLabelValues(c)
	}
	for _, o := range []string{outcomeOK, outcomeError, outcomeRetry, outcomeCanceled} {
		m.forwarded[o] = fwd.WithLabelValues(o)
	}
	for _, r := range []string{reasonDial, reasonSent, reasonNoRoom} {
		m.retries[r] = retr.WithLabelValues(r)
	}
	return m
}

func statusClass(code int) int {
	if code < 100 || code > 599 {
		return 0
	}
	return code / 100
}
