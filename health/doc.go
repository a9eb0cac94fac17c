// Package health decides whether siblings and this replica can take work;
// it never routes requests and never scales. It owns:
//
//   - Judge: the pure transition rule for one state poll (down after
//     MITOSIS_HEALTH_FAILS consecutive failures, back after one success,
//     draining as soon as a sibling reports it).
//   - Prober: active polling of every sibling's /_mitosis/state each
//     interval, with bounded concurrency, spread start times and a per-poll
//     timeout, writing Judge's verdict to the pool.Store. Passive ejection
//     (a refused or reset connection while forwarding) is pool.Store.MarkDown,
//     called by the balancer; a draining load header is
//     pool.Store.ApplyLoad.
//   - Status: the own replica's liveness (/healthz), readiness (/readyz) and
//     drain flag, read on every request.
//
// Concurrency: Judge is pure. Status is safe for concurrent use. A Prober's
// Run or ProbeOnce must be driven from one goroutine; its polls run
// concurrently inside.
package health
