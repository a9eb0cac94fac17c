package spawner

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Status is what a driver reports of the replicas it manages.
type Status struct {
	// Desired is the replica count the platform is asked to run, Pending
	// included.
	Desired int
	// Running is how many replicas run now (the left number of REPLICAS in
	// `docker service ls`).
	Running int
	// Pending is how many of Desired the platform cannot place now: Swarm
	// tasks the scheduler left pending with an explanation ("no suitable
	// node (...)"), clones the engine refused to create or start. Tasks on
	// their way (being scheduled, pulled, started) are not pending.
	Pending int
	// PendingReason says why, one of the Pending* constants; "" when
	// Pending is 0.
	PendingReason string
	// PendingMessage is the platform's own words for the first pending
	// replica, e.g. "no suitable node (host-mode port already in use on 1
	// node)".
	PendingMessage string
	// Placement identifies where new replicas can go (Swarm: the nodes
	// available for new tasks). It changes when that does (a node joins,
	// leaves, is drained or comes back), which is when what could not be
	// placed may fit again. "" means the driver cannot tell.
	Placement string
	// Version is the compare-and-swap token to pass back to Scale. Drivers
	// without versions use a counter of their own.
	Version uint64
}

// Reasons a replica cannot be placed (Status.PendingReason), a small fixed
// set so they can label a metric.
const (
	PendingPort       = "port"       // a published host port is taken on every candidate node
	PendingConstraint = "constraint" // placement constraints, platform or max-per-node exclude every node
	PendingResources  = "resources"  // reservations fit on no node
	PendingNode       = "node"       // no node is available for new tasks (down, drained, paused)
	PendingEngine     = "engine"     // the engine refused to create or start a clone
	PendingOther      = "other"      // anything else the platform explained
)

// PendingReasons lists every Pending* reason, for metrics.
var PendingReasons = []string{PendingPort, PendingConstraint, PendingResources, PendingNode, PendingEngine, PendingOther}

// pendingReason classifies a platform's explanation of why a replica is
// not placed. Swarm's scheduler writes "no suitable node (A; B)" with the
// most frequent explanation first, in fixed wordings (swarmkit's
// scheduler filters); the engine's refusals are free text, so only the
// port case is recognised there, the rest is "engine".
func pendingReason(msg string, engine bool) string {
	m := strings.ToLower(msg)
	if i := strings.Index(m, "("); i >= 0 && !engine {
		m = m[i+1:] // the explanations, most frequent first
	}
	type rule struct{ needle, reason string }
	rules := []rule{
		{"host-mode port", PendingPort},
		{"port is already allocated", PendingPort},
		{"address already in use", PendingPort},
		{"insufficient resources", PendingResources},
		{"scheduling constraints", PendingConstraint},
		{"unsupported platform", PendingConstraint},
		{"max replicas per node", PendingConstraint},
		{"not available for new tasks", PendingNode},
		{"no nodes", PendingNode},
	}
	best, at := "", len(m)+1
	for _, r := range rules {
		if i := strings.Index(m, r.needle); i >= 0 && i < at {
			best, at = r.reason, i
		}
	}
	switch {
	case best != "":
		return best
	case engine:
		return PendingEngine
	}
	return PendingOther
}

// Driver acts on the platform. Implementations must be safe for concurrent
// use.
type Driver interface {
	// Status reads the current replica counts and version.
	Status(ctx context.Context) (Status, error)
	// Scale asks for n replicas, given the version read by Status. A stale
	// version yields a *ConflictError (see IsConflict): the caller re-reads
	// next tick; it is not a failure.
	Scale(ctx context.Context, n int, version uint64) error
}

// ConflictError reports that Scale lost a race: someone else changed the
// replicas (or the service) since the version was read. Nothing was done.
type ConflictError struct {
	Version uint64
	Err     error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("spawner: version %d is stale: %v", e.Version, e.Err)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// IsConflict reports whether err is (or wraps) a *ConflictError.
func IsConflict(err error) bool {
	var c *ConflictError
	return errors.As(err, &c)
}

// ErrOverCap is returned when Scale is asked for more than the hard cap.
var ErrOverCap = errors.New("spawner: replicas above the hard cap")
