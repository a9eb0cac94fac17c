// Package autoscale decides how many replicas the service should run and,
// on the one elected replica, asks the spawner driver for them. It never
// talks to Docker or routes a request: the platform is behind the driver
// interface, the load arrives as samples.
//
// It owns three things:
//
//   - The decision (Decider): a deterministic function of load samples over
//     time, the current replica count, the policy (Config) and now. The
//     signal is concurrency (in-flight + queued, summed over ready members,
//     plus the demand of shed requests) averaged over a stable and a panic
//     window. Desired = ceil(concurrency / (target × utilisation)); one more
//     while p95 is over the SLO with requests queued; panic mode on bursts
//     scales up at once and blocks scale-down; rate limits, a scale-down
//     delay, a warm-up and hard min/max bound the result. When the
//     platform cannot place what it was asked for (Platform.Pending), the
//     desired count is capped at what runs and the cap is remembered until
//     the placement changes or a probe of one replica more runs, so the
//     count does not climb past what can run. Every decision carries a
//     human reason ("pending: ..." for placement).
//   - The election (Leader): the ready replica with the smallest id among
//     those able to scale acts; the others decide the same way and wait.
//   - The loop (Loop): every tick, sample, read the driver's Status, decide,
//     and, when leading, call Scale. A lost race (spawner.IsConflict) is a
//     no-op re-read next tick. Decisions are kept (the last 50) for
//     /_mitosis/state and exported as Prometheus metrics.
//
// SampleOf and CandidatesOf turn the pool's members (plus this replica) into
// the decider's Sample and the election's candidates.
//
// The driver interface is satisfied by spawner.Driver.
//
// Concurrency: Config, Leader, SampleOf, CandidatesOf and ElectorFunc are
// values and functions free of shared state. A Decider is not safe for
// concurrent use. A Loop is:
// Step, Run, Poke and History may be called from any goroutine (Steps are
// serialised); Run must be called once.
package autoscale
