package autoscale

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/spawner"
)

// metrics are the autoscaler's Prometheus series:
//
//	mitosis_replicas_desired                        desired replicas of the last decision
//	mitosis_replicas_current                        current replicas (driver Status, else ready members)
//	mitosis_replicas_running                        replicas running (driver Status; 0 while it fails)
//	mitosis_replicas_min, mitosis_replicas_max      the configured bounds (for "at max" alerts)
//	mitosis_platform_up                             1 while the platform (daemon, guard, process
//	                                                table) answers the driver's Status, else 0
//	mitosis_replicas_pending{reason}                replicas the platform cannot place, by reason
//	                                                (port|constraint|resources|node|engine|other)
//	mitosis_autoscale_panic                         1 while in panic mode
//	mitosis_autoscale_leader                        1 if this replica is the one that acts
//	mitosis_autoscale_concurrency{window}           averaged demand, window="stable|panic"
//	mitosis_autoscale_last_decision_timestamp_seconds  when the loop last decided (staleness alerts)
//	mitosis_scale_events_total{direction,result}    Scale attempts by direction (up|down) and
//	                                                result (ok|conflict|error|dry_run)
type metrics struct {
	desired, current, panic, leader, lastDecision prometheus.Gauge
	running, minR, maxR, platformUp               prometheus.Gauge
	stableC, panicC                               prometheus.Gauge
	events                                        map[[2]string]prometheus.Counter // {direction, result}
	pending                                       map[string]prometheus.Gauge      // by reason
}

var (
	eventDirections = []string{"up", "down"}
	eventResults    = []string{ResultOK, ResultConflict, ResultError, ResultDryRun}
)

// newMetrics creates the series and registers them on reg; a nil reg keeps
// them unregistered (tests that do not look at metrics).
func newMetrics(reg prometheus.Registerer, cfg Config) (*metrics, error) {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	conc := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mitosis_autoscale_concurrency",
		Help: "Demand (in-flight + queued over ready members, plus shed demand) averaged over the stable or panic window.",
	}, []string{"window"})
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mitosis_scale_events_total",
		Help: "Scale attempts by this replica, by direction (up|down) and result (ok|conflict|error|dry_run).",
	}, []string{"direction", "result"})
	pending := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "mitosis_replicas_pending",
		Help: "Replicas the platform is asked for but cannot place, by reason (port|constraint|resources|node|engine|other).",
	}, []string{"reason"})
	m := &metrics{
		desired:      gauge("mitosis_replicas_desired", "Desired replicas of the last autoscale decision."),
		current:      gauge("mitosis_replicas_current", "Current replicas: the driver's desired count, or the ready members when Status fails."),
		panic:        gauge("mitosis_autoscale_panic", "1 while the autoscaler is in panic mode, else 0."),
		leader:       gauge("mitosis_autoscale_leader", "1 if this replica is the one that calls the driver, else 0."),
		lastDecision: gauge("mitosis_autoscale_last_decision_timestamp_seconds", "Unix time of the last autoscale decision."),
		running:      gauge("mitosis_replicas_running", "Replicas running as the driver's Status last reported them (0 while it fails)."),
		minR:         gauge("mitosis_replicas_min", "MITOSIS_MIN_REPLICAS: the fewest replicas the autoscaler keeps."),
		maxR:         gauge("mitosis_replicas_max", "MITOSIS_MAX_REPLICAS: the most replicas the autoscaler asks for."),
		platformUp:   gauge("mitosis_platform_up", "1 while the platform (Docker daemon, guard, process table) answers the driver's Status, else 0."),
		stableC:      conc.WithLabelValues("stable"),
		panicC:       conc.WithLabelValues("panic"),
		events:       map[[2]string]prometheus.Counter{},
		pending:      map[string]prometheus.Gauge{},
	}
	for _, r := range spawner.PendingReasons {
		m.pending[r] = pending.WithLabelValues(r)
	}
	m.minR.Set(float64(cfg.MinReplicas))
	m.maxR.Set(float64(cfg.MaxReplicas))
	// Resolve every label pair now so all series exist (at 0) from the
	// first scrape and rate() sees the first event.
	for _, d := range eventDirections {
		for _, r := range eventResults {
			m.events[[2]string{d, r}] = events.WithLabelValues(d, r)
		}
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.desired, m.current, m.running, m.minR, m.maxR, m.platformUp, m.panic, m.leader, m.lastDecision, conc, events, pending} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("autoscale: register metrics: %w", err)
	}
	return m, nil
}

// observe exports one finished decision.
func (m *metrics) observe(d Decision) {
	m.desired.Set(float64(d.Desired))
	m.current.Set(float64(d.Current))
	m.running.Set(float64(d.Running))
	m.platformUp.Set(b2f(d.Result != ResultNoStatus))
	m.panic.Set(b2f(d.Panic))
	m.leader.Set(b2f(d.Leader))
	m.lastDecision.Set(float64(d.Time.UnixNano()) / 1e9)
	m.stableC.Set(d.StableConcurrency)
	m.panicC.Set(d.PanicConcurrency)
	reason := d.PendingReason
	if _, ok := m.pending[reason]; !ok {
		reason = spawner.PendingOther
	}
	for r, g := range m.pending {
		if r == reason {
			g.Set(float64(d.Pending))
		} else {
			g.Set(0)
		}
	}
	dir := "up"
	if d.Desired < d.Current {
		dir = "down"
	}
	if c, ok := m.events[[2]string{dir, d.Result}]; ok {
		c.Inc()
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
