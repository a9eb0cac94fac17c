package autoscale

import (
	"fmt"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// Platform is what the platform reported at a tick: the driver's Status
// (Desired, the decider's "current", counts the Pending replicas that
// cannot be placed; Placement, when it changes, lifts a remembered cap).
type Platform struct {
	spawner.Status
	// Unknown is set when the platform did not answer: Desired is a guess
	// (the ready members) and nothing is learned about placement.
	Unknown bool
}

// Current is a Platform that reports only its desired count n.
func Current(n int) Platform { return Platform{Status: spawner.Status{Desired: n}} }

// placementRetryTicks: a cap learned from pending replicas is kept until
// the platform's Placement changes, or for this many ticks (60 s at the
// default 2 s tick), after which one replica more than the cap is tried.
// Placement cannot see everything that frees room (another service
// releasing a port or memory on a node; a refusal of the engine that
// passed), and the probe costs at most one pending replica for a tick or
// two, where asking for the whole desire again would pend all of it.
const placementRetryTicks = 30

// placementCap remembers the most replicas the platform could place, so
// that the desired count stops climbing past what can run and does not
// flap between the load's desire and what fits.
//
// It is learned whenever the platform reports pending replicas: what can
// run is Desired - Pending (at least 1). It is lifted when the platform's
// Placement changes (a node joined, left, was drained or came back), or
// when a probe (one replica more, allowed after placementRetryTicks)
// runs; a probe that pends again re-learns the cap and restarts the wait.
type placementCap struct {
	n         int // most replicas that can run; 0: no cap
	reason    string
	placement string
	since     time.Time // learned or last confirmed by a pending replica
	probe     bool      // one more than n is allowed, to try again
}

// observe updates the cap from what the platform reported at now, and
// returns a note for the decision's reason when something changed.
func (c *placementCap) observe(now time.Time, p Platform, retry time.Duration) string {
	switch {
	case p.Unknown:
		return ""
	case p.Pending > 0:
		n := max(p.Desired-p.Pending, 1)
		*c = placementCap{n: n, reason: p.PendingReason, placement: p.Placement, since: now}
		return fmt.Sprintf("pending: %d of %d cannot be placed (%s: %s)", p.Pending, p.Desired, p.PendingReason, p.PendingMessage)
	case c.n == 0:
		return ""
	case p.Placement != "" && c.placement != "" && p.Placement != c.placement:
		*c = placementCap{}
		return "placement changed: cap lifted"
	case c.probe && p.Desired > c.n && p.Running >= p.Desired:
		*c = placementCap{}
		return fmt.Sprintf("the probe replica runs (%d): cap lifted", p.Running)
	case !c.probe && now.Sub(c.since) >= retry:
		c.probe = true
		return fmt.Sprintf("placement cap %d kept %s: trying %d", c.n, now.Sub(c.since).Round(time.Second), c.n+1)
	}
	return ""
}

// limit caps want at what can run (plus one while probing) and explains it.
func (c *placementCap) limit(want int, explain func(string, ...any)) int {
	if c.n == 0 {
		return want
	}
	most := c.n
	if c.probe {
		most++
	}
	if want > most {
		explain("pending: capped at %d, what the platform can place (%s), until placement changes", most, c.reason)
		return most
	}
	return want
}
