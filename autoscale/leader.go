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
	// Leading is what the replica last reported: that it leads (false
	// from replicas that predate the report).
	Leading bool
}

// eligible reports whether c may act.
func (c Candidate) eligible() bool { return c.ID != "" && c.Ready && c.CanScale }

// Leader reports whether self is the one replica that acts: the eligible
// (ready, able to scale) candidate with the smallest id, once no other
// eligible candidate reports that it leads. Candidates in others with
// self's id are ignored (a replica may see itself in its own table).
//
// The second rule is a handover: a replica that leads keeps the lead
// until it sees a smaller eligible candidate itself, steps back, and says
// so in its next report; only then does the smaller one take over. Without
// it a new replica with the smallest id led as soon as it saw the sitting
// leader, which might not have found it yet (discovery across nodes can
// take seconds): both scaled in the same tick, each on the version the
// other left, which the driver's version check cannot catch. Two that both
// report leading (views that differed) both step back, and the smaller
// leads one report later. A leader that dies is out once it is no longer
// ready (the health rule), as before.
func Leader(self Candidate, others []Candidate) bool {
	if !self.eligible() {
		return false
	}
	for _, o := range others {
		if o.ID != self.ID && o.eligible() && (o.ID < self.ID || o.Leading) {
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
