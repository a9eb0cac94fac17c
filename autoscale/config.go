package autoscale

import (
	"errors"
	"fmt"
	"time"
)

// Config is the scaling policy. The zero value is not usable; start from
// DefaultConfig and override what the operator set.
type Config struct {
	// MinReplicas is the hard floor (MITOSIS_MIN_REPLICAS, default 1). The
	// service never scales to zero: a replica is its own front door, so with
	// none left there is nobody to notice demand and start one.
	MinReplicas int
	// MaxReplicas is the hard cap (MITOSIS_MAX_REPLICAS, default 10). The
	// driver is never asked for more, whatever the load says.
	MaxReplicas int
	// TargetConcurrency is the in-flight plus queued requests one replica
	// should carry (MITOSIS_TARGET_CONCURRENCY, default 10). It is a soft
	// target well below MITOSIS_MAX_INFLIGHT, the hard admission limit.
	TargetConcurrency float64
	// TargetUtilization is the share of TargetConcurrency to aim for, the
	// rest being headroom for bursts while new replicas start
	// (MITOSIS_TARGET_UTILIZATION, default 0.7, in (0; 1]).
	TargetUtilization float64
	// LatencySLO is the app p95 (queue time excluded) above which, with
	// requests queued through the whole panic window, the decider asks for
	// at least one replica more (MITOSIS_LATENCY_SLO, default 1s; 0
	// disables the rule).
	LatencySLO time.Duration
	// StableWindow is the averaging window of the stable signal, and how
	// long the panic window must stay calm before panic mode ends
	// (MITOSIS_STABLE_WINDOW, default 30s).
	StableWindow time.Duration
	// PanicWindow is the short averaging window that detects bursts
	// (MITOSIS_PANIC_WINDOW, default 6s).
	PanicWindow time.Duration
	// PanicThreshold: panic mode starts when the panic-window desire is at
	// least this many times the current replicas (MITOSIS_PANIC_THRESHOLD,
	// default 2.0, > 1).
	PanicThreshold float64
	// ScaleUpRate bounds one step up: at most ceil(current × rate) replicas
	// (MITOSIS_SCALE_UP_RATE, default 10, > 1).
	ScaleUpRate float64
	// ScaleDownRate bounds one step down: at least floor(current / rate)
	// replicas (MITOSIS_SCALE_DOWN_RATE, default 2, > 1).
	ScaleDownRate float64
	// ScaleDownDelay: a scale-down takes the highest desire seen over this
	// long, so a dip must last the whole delay (MITOSIS_SCALE_DOWN_DELAY,
	// default 60s; 0 disables).
	ScaleDownDelay time.Duration
	// Tick is how often every replica samples and decides (MITOSIS_TICK,
	// default 2s).
	Tick time.Duration
	// DryRun decides and reports but never calls the driver's Scale
	// (MITOSIS_DRY_RUN, default false).
	DryRun bool
}

// DefaultConfig returns the default policy.
//
// Why these defaults. The benchmark to beat is the Kubernetes HPA: it looks
// every 15 s and waits 300 s before it scales down. The defaults react in
// one 2 s tick to a burst and give replicas back after about a minute of
// calm, yet hold still under steady load:
//
//   - Tick 2s: a sample is a local table read and a decision costs
//     microseconds; the price is one driver Status call per replica per tick
//     (for Swarm, one service inspect), a few calls per second for a
//     10-replica service. 2 s is 7× more often than the HPA.
//   - PanicWindow 6s (three ticks): long enough that one odd sample does
//     not panic, short enough that a burst is seen within a tick or two.
//   - StableWindow 30s (15 samples): averages out second-scale noise.
//     Knative uses 60 s; our replicas are started and stopped by Swarm in a
//     few seconds, so a shorter memory is affordable.
//   - PanicThreshold 2.0: a doubling of demand within seconds is a burst,
//     not drift (Knative uses the same).
//   - ScaleDownDelay 60s: a replica is removed only after the load has been
//     lower for a full minute — 5× faster than the HPA's 300 s — which
//     rides over pauses between bursts of a sawtooth without flapping. With
//     the 30 s window the service is back to size ~90 s after a drop.
//   - ScaleUpRate 10: starting a replica is cheap and a burst wants capacity
//     now; the hard cap is MaxReplicas, not the step.
//   - ScaleDownRate 2: at most halve per tick, so the survivors take at
//     most twice their load while the removed ones drain.
//   - TargetConcurrency 10, TargetUtilization 0.7: aim for 7 requests per
//     replica. 10 is a safe start for CPU-bound apps (a core serves one
//     request at a time); IO-bound apps should raise it, always keeping it
//     well below MITOSIS_MAX_INFLIGHT (100). 0.7 keeps 30% headroom for the
//     seconds a new replica needs to start (Knative uses 0.7 too).
//   - LatencySLO 1s: a page slower than a second at p95 is slow for people;
//     the rule adds replicas only while requests also queue, so an app slow
//     by nature (not by overload) does not grow the service.
//   - MinReplicas 1 (never zero: see the field), MaxReplicas 10: a bound
//     that a runaway signal cannot turn into a large bill; raise it on
//     purpose.
//   - DryRun false.
func DefaultConfig() Config {
	return Config{
		MinReplicas:       1,
		MaxReplicas:       10,
		TargetConcurrency: 10,
		TargetUtilization: 0.7,
		LatencySLO:        time.Second,
		StableWindow:      30 * time.Second,
		PanicWindow:       6 * time.Second,
		PanicThreshold:    2,
		ScaleUpRate:       10,
		ScaleDownRate:     2,
		ScaleDownDelay:    60 * time.Second,
		Tick:              2 * time.Second,
	}
}

// Bounds of the settings. They keep the arithmetic meaningful (windows hold
// at least one sample, rates move at least one replica) and catch unit
// mistakes such as "30" meant as seconds but read as nanoseconds.
const (
	maxReplicasLimit = 10_000
	minTick          = 100 * time.Millisecond
	maxTick          = time.Minute
	maxWindow        = time.Hour
)

// Validate reports every invalid setting at once, each naming the
// environment variable, the value and the accepted range.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.MinReplicas < 1 || c.MinReplicas > maxReplicasLimit {
		bad("MITOSIS_MIN_REPLICAS=%d: must be in [1; %d]", c.MinReplicas, maxReplicasLimit)
	}
	if c.MaxReplicas < max(c.MinReplicas, 1) || c.MaxReplicas > maxReplicasLimit {
		bad("MITOSIS_MAX_REPLICAS=%d: must be >= MITOSIS_MIN_REPLICAS (%d) and <= %d",
			c.MaxReplicas, c.MinReplicas, maxReplicasLimit)
	}
	if !(c.TargetConcurrency > 0 && c.TargetConcurrency <= 1e6) { // also rejects NaN
		bad("MITOSIS_TARGET_CONCURRENCY=%g: must be in (0; 1000000]", c.TargetConcurrency)
	}
	if !(c.TargetUtilization > 0 && c.TargetUtilization <= 1) {
		bad("MITOSIS_TARGET_UTILIZATION=%g: must be in (0; 1]", c.TargetUtilization)
	}
	if c.LatencySLO < 0 || c.LatencySLO > maxWindow {
		bad("MITOSIS_LATENCY_SLO=%s: must be in [0s; 1h] (0 disables)", c.LatencySLO)
	}
	if c.Tick < minTick || c.Tick > maxTick {
		bad("MITOSIS_TICK=%s: must be in [%s; %s]", c.Tick, minTick, maxTick)
	}
	// The panic window must hold at least one tick's sample and fit in the
	// stable window; the stable window is checked against the hour alone
	// so a too-long panic window is reported once, on the panic window.
	if c.StableWindow < max(c.Tick, minTick) || c.StableWindow > maxWindow {
		bad("MITOSIS_STABLE_WINDOW=%s: must be in [MITOSIS_TICK (%s); 1h]", c.StableWindow, c.Tick)
	}
	if c.PanicWindow < max(c.Tick, minTick) || c.PanicWindow > c.StableWindow {
		bad("MITOSIS_PANIC_WINDOW=%s: must be in [MITOSIS_TICK (%s); MITOSIS_STABLE_WINDOW (%s)]",
			c.PanicWindow, c.Tick, c.StableWindow)
	}
	// A threshold of 1 or less would call every steady state a panic and
	// so block scale-down for ever.
	if !(c.PanicThreshold > 1 && c.PanicThreshold <= 100) {
		bad("MITOSIS_PANIC_THRESHOLD=%g: must be in (1; 100]", c.PanicThreshold)
	}
	if !(c.ScaleUpRate > 1 && c.ScaleUpRate <= 1000) {
		bad("MITOSIS_SCALE_UP_RATE=%g: must be in (1; 1000]", c.ScaleUpRate)
	}
	if !(c.ScaleDownRate > 1 && c.ScaleDownRate <= 1000) {
		bad("MITOSIS_SCALE_DOWN_RATE=%g: must be in (1; 1000]", c.ScaleDownRate)
	}
	if c.ScaleDownDelay < 0 || c.ScaleDownDelay > maxWindow {
		bad("MITOSIS_SCALE_DOWN_DELAY=%s: must be in [0s; 1h] (0 disables)", c.ScaleDownDelay)
	}
	return errors.Join(errs...)
}

// clamp bounds n to [MinReplicas; MaxReplicas].
func (c Config) clamp(n int) int {
	return min(max(n, c.MinReplicas), c.MaxReplicas)
}
