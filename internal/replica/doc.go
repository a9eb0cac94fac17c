// Package replica wires one mitosis replica: the app (an in-process
// handler, a child process, an upstream or the demo), the balancer and its
// fast path, the platform driver and sibling discovery, the prober and the
// autoscale loop, the admin server and this replica's own row of the load
// table; Start starts them in order and Wait drains them in order. It
// must not know HTTP framing or decide policy: the packages it wires do.
package replica
