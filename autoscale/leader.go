package autoscale

// Candidate is one replica as the election sees it.
type Candidate struct {
	// ID is the replica id; "" (not yet known) never wins.
	ID string
	// Ready is true while the replica serves and is not draining.
	Ready bool
	// CanScale is true if the replica can reach the platform's control API
	// (for Swarm: a manager's socket).
	CanScale bool
}

// eligible reports whether c may act.
func (c Candidate) eligible() bool { return c.ID != "" && c.Ready && c.CanScale }

// Leader reports whether self is the one replica that acts: the eligible
// (ready, able to scale) candidate with the smallest id. Candidates in
// others with self's id are ignored (a replica may see itself in its own
// table). Replicas whose views differ for a moment may both think they
// lead; the driver's version check turns the second Scale into a conflict,
// so the cost of a split view is one no-op, never a double scale.
func Leader(self Candidate, others []Candidate) bool {
	if !self.eligible() {
		return false
	}
	for _, o := range others {
		if o.ID != self.ID && o.eligible() && o.ID < self.ID {
			return false
		}
	}
	return true
}

// ElectorFunc adapts a function to the elector the Loop consumes, e.g.
//
//	autoscale.ElectorFunc(func() bool { return autoscale.Leader(self(), others()) })
type ElectorFunc func() bool

// IsLeader calls f.
func (f ElectorFunc) IsLeader() bool { return f() }
