package spawner

import (
	"context"
	"errors"
	"fmt"
)

// Status is what a driver reports of the replicas it manages.
type Status struct {
	// Desired is the replica count the platform is asked to run.
	Desired int
	// Running is how many replicas run now (the left number of REPLICAS in
	// `docker service ls`).
	Running int
	// Version is the compare-and-swap token to pass back to Scale. Drivers
	// without versions use a counter of their own.
	Version uint64
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
