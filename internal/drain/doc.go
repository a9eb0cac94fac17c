// Package drain lets a replica stop without losing a request: a listener
// that, once told to quiesce, refuses new connections at the kernel and
// accepts what was already queued before it closes, and a tracker that
// knows when every accepted connection has its answer. It must not know
// about replicas, siblings or HTTP routing: it sees sockets and
// connection states only.
package drain
