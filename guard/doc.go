// Package guard is `mitosis guard`: the only process of a stack that holds
// the Docker socket. It offers the web tier a narrow capability API over
// the stack's overlay network (paths and bodies in spawner/guardapi.go),
// not a filtered Engine API:
//
//   - status of the caller's own service (desired, running, version, the
//     bounds, its tasks with their addresses);
//   - scale the caller's own service to N at the version it read, N within
//     the MITOSIS_MIN_REPLICAS and MITOSIS_MAX_REPLICAS found in that
//     service's own spec; the update sends the inspected spec back with
//     only the replica count changed (spawner.Services.Scale compares the
//     two before sending);
//   - run a one-shot function container from an allow-listed image with
//     settings the guard imposes (the request can carry only image, args,
//     env, stdin and a timeout).
//
// Who calls is decided without trusting the caller: the connection's
// source address must be the address of a running task of a service that
// carries the caller label (default mitosis.guard=true, a service label
// only a Swarm operator can set), and the request must carry the shared
// secret. Every call is logged, counted and rate-limited per service;
// every refusal names its rule. Any other path, Engine API paths
// included, is answered 404: nothing is ever proxied to the daemon.
//
// The guard must not act on a service it did not identify as the caller,
// change anything of a service but its replica count, or import the
// Docker SDK (spawner does the Engine calls).
//
// Concurrency: a Server is safe for concurrent use; its caller map is
// refreshed by one call at a time.
package guard
