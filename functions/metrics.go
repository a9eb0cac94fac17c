package functions

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a call or run, the only values of the outcome label.
const (
	outcomeOK       = "ok"        // exit status 0
	outcomeFailed   = "failed"    // exit status not 0
	outcomeError    = "error"     // could not run (no image, engine down, ...)
	outcomeTimeout  = "timeout"   // killed at the run timeout
	outcomeTooLarge = "too_large" // killed: stdout over the cap
	outcomeShed     = "shed"      // refused: queue full, no slot in time, async backlog full, draining
	outcomeCanceled = "canceled"  // the caller left, or the drain deadline came
)

var outcomes = []string{outcomeOK, outcomeFailed, outcomeError, outcomeTimeout, outcomeTooLarge, outcomeShed, outcomeCanceled}

type metrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// fnMetrics are one function's series, resolved once.
type fnMetrics struct {
	runs     map[string]prometheus.Counter
	duration prometheus.Observer
}

func (m fnMetrics) outcome(o string) { m.runs[o].Inc() }

func newMetrics(reg prometheus.Registerer, s *Set) (*metrics, error) {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mitosis_function_runs_total",
			Help: "Function calls and async runs by outcome: ok, failed (exit status not 0), error (could not run), timeout, too_large (stdout over the cap), shed (refused: busy or draining), canceled (the caller left).",
		}, []string{"function", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mitosis_function_run_duration_seconds",
			Help:    "Time of one function run, start of the process or container to its exit (queueing not included).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"function"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.runs, m.duration, &gauges{s: s}} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) forFunction(name string) fnMetrics {
	f := fnMetrics{runs: map[string]prometheus.Counter{}, duration: m.duration.WithLabelValues(name)}
	for _, o := range outcomes {
		f.runs[o] = m.runs.WithLabelValues(name, o)
	}
	return f
}

// gauges reads in-flight and queued counts from the limiters when scraped.
type gauges struct{ s *Set }

var (
	inflightDesc = prometheus.NewDesc("mitosis_function_inflight", "Function runs in progress now.", []string{"function"}, nil)
	queuedDesc   = prometheus.NewDesc("mitosis_function_queued", "Function calls and async runs waiting for a slot now.", []string{"function"}, nil)
)

func (g *gauges) Describe(ch chan<- *prometheus.Desc) { ch <- inflightDesc; ch <- queuedDesc }

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	for name, x := range g.s.byName {
		ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(x.lim.inflight()), name)
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(x.lim.queued.Load()+x.lim.waiting.Load()), name)
	}
}
