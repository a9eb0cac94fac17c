// Package spawner acts on the platform behind one small interface, Driver
// (Status and Scale, with a version as compare-and-swap token). It decides
// nothing: the autoscale package says how many replicas, spawner makes the
// platform run them.
//
// Drivers:
//
//   - swarm (Swarm): scales the replica's own Swarm service, sending back the
//     spec exactly as inspected with only the replica count changed, the
//     service version being the CAS token ("update out of sequence" becomes
//     a *ConflictError).
//   - docker (Docker): sibling containers cloned from the original (the
//     root) on a plain engine. No clone outlives its root for long: the
//     root retires them when it drains (RetireClones), each clone drains
//     and exits once the root is gone for RootGrace (WatchRoot), and a
//     root that starts again adopts its own clones and retires a previous
//     root's leftovers (Reconcile). See docker_root.go.
//   - process (Process): sibling child processes of the same binary on free
//     loopback ports; the embedded default when no Docker is configured.
//     The parent counts as one replica. Children never outlive the parent:
//     on Linux the kernel sends them SIGTERM when the parent dies (even by
//     SIGKILL), and everywhere a child can call WatchParent. Replicas is the
//     `process` discovery source.
//
// Detect picks a driver for MITOSIS_DRIVER=auto. WithLimits wraps any
// driver so that no caller exceeds the MIN_REPLICAS/MAX_REPLICAS bounds,
// whatever the decider asks. Tasks runs one-shot function containers (the
// article's client.run(image, args)). Engine is the only adapter over the
// Docker SDK.
//
// Concurrency: every Driver, Process, Tasks and Engine method is safe for
// concurrent use. Process.Scale never waits for child start-up; a
// supervisor goroutine converges in the background until Close.
package spawner
