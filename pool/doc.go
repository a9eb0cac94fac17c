// Package pool knows who this replica's siblings are and how loaded they
// are; it decides nothing about scaling or routing. It owns:
//
//   - Store: the go-memdb table of members (admin and public address, state
//     joining/ready/draining/down, in-flight, queued, capacity, latency,
//     last update, discovery source). Only this package imports go-memdb;
//     callers see typed Member values. Ready() is the hot-path read: an
//     immutable snapshot swapped with atomic.Pointer on every write, no
//     allocation and no lock per call.
//   - Discovery: one small interface with static (MITOSIS_PEERS), DNS
//     (tasks.<MITOSIS_SERVICE>) and, in discovery_swarm.go, Swarm tasks
//     sources; DiscoveryFunc adapts anything else (the process driver).
//   - Syncer: the loop that reconciles the table with discovery every
//     MITOSIS_SYNC_INTERVAL (±10% jitter). A member that leaves discovery
//     leaves the table; a discovery error keeps the table.
//   - State exchange: Fetcher reads a sibling's GET /_mitosis/state
//     (State, with X-Mitosis-Token when MITOSIS_CLUSTER_TOKEN is set), and
//     the X-Mitosis-Load response header (Load, AppendLoad, ParseLoad) keeps
//     the table fresh between polls. RowOf is the one mapping from a
//     replica's State to its row, for siblings and for the replica itself.
//   - Metrics: NewCollector exports mitosis_members{state} and
//     mitosis_sibling_up{sibling} read from the store at scrape time.
//
// The health rules (when a member is down, ready or draining) live in package
// health, which polls through Fetcher and writes through Store.Update.
//
// Concurrency: Store, Fetcher (once configured), the Discovery
// implementations and the collector are safe for concurrent use. A Syncer's
// Run/SyncOnce must be driven from one goroutine.
package pool
