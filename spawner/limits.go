package spawner

import (
	"context"
	"fmt"
	"log/slog"
)

// limited clamps every Scale into [min, max] before delegating: the
// MAX_REPLICAS hard cap holds whatever the decider (or a bug in it) asks.
type limited struct {
	d        Driver
	min, max int
	log      *slog.Logger
}

// WithLimits wraps d so that Scale(n) asks d for n clamped into [min, max]
// and logs (through slog.Default) when it clamps. Status passes through
// unchanged. It panics when min < 1 or max < min: main validates
// MIN_REPLICAS and MAX_REPLICAS before wiring, so that is a programming
// error.
func WithLimits(d Driver, min, max int) Driver {
	if min < 1 || max < min {
		panic(fmt.Sprintf("spawner: WithLimits(min = %d, max = %d): need 1 <= min <= max", min, max))
	}
	return &limited{d: d, min: min, max: max, log: slog.Default()}
}

func (l *limited) Status(ctx context.Context) (Status, error) { return l.d.Status(ctx) }

func (l *limited) Scale(ctx context.Context, n int, version uint64) error {
	c := max(l.min, min(n, l.max))
	if c != n {
		l.log.Warn("spawner: scale request clamped to the replica limits",
			"asked", n, "scaled", c, "min_replicas", l.min, "max_replicas", l.max)
	}
	return l.d.Scale(ctx, c, version)
}
