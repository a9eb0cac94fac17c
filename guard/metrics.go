package guard

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	refresh  *prometheus.CounterVec
	runs     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mitosis_guard_calls_total",
			Help: "Calls to the guard by caller service (\"unknown\" before identification), action and result (ok, or the rule refused).",
		}, []string{"service", "action", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mitosis_guard_call_duration_seconds",
			Help:    "Time to answer a call, by action (runs included).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"action"}),
		refresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mitosis_guard_caller_refreshes_total",
			Help: "Reloads of the map from task addresses to services, by result (ok, error).",
		}, []string{"result"}),
		runs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mitosis_guard_runs_inflight",
			Help: "Function containers running for callers now.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.calls, m.duration, m.refresh, m.runs} {
			if err := reg.Register(c); err != nil {
				return nil, errors.Join(errors.New("guard: register metrics"), err)
			}
		}
	}
	return m, nil
}

func (m *metrics) call(service, action, result string, d time.Duration) {
	if service == "" {
		service = "unknown"
	}
	m.calls.WithLabelValues(service, action, result).Inc()
	m.duration.WithLabelValues(action).Observe(d.Seconds())
}

func (m *metrics) refreshed(err error) {
	if err != nil {
		m.refresh.WithLabelValues("error").Inc()
		return
	}
	m.refresh.WithLabelValues("ok").Inc()
}
