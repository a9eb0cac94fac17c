package pool

import "time"

// MemberState is where a sibling stands as seen from this replica.
type MemberState string

// Member states. A member starts as StateJoining until its first successful
// state poll, is StateReady while it answers and accepts forwarded work,
// StateDraining once it reports that it is shutting down (never forward to it
// again), and StateDown after the health policy gave up on it.
const (
	StateJoining  MemberState = "joining"
	StateReady    MemberState = "ready"
	StateDraining MemberState = "draining"
	StateDown     MemberState = "down"
)

// Member is one sibling replica in the table. Members are immutable values:
// the store copies them in and out, so a Member obtained from the store may be
// kept and read without locks.
type Member struct {
	// Key identifies the member in the table: its admin address (host:port),
	// the one thing every discovery source knows.
	Key string `json:"key"`
	// ID is the replica id the member reports in its state ("" until the
	// first successful poll).
	ID string `json:"id"`
	// Addr is the public address (host:port) to forward requests to; empty
	// until known.
	Addr string `json:"addr"`
	// AdminAddr is the admin address (host:port) serving /_mitosis/state.
	AdminAddr string      `json:"admin_addr"`
	State     MemberState `json:"state"`
	Inflight  int         `json:"inflight"`
	Queued    int         `json:"queued"`
	// Capacity is the member's MAX_INFLIGHT.
	Capacity int `json:"capacity"`
	// QueueMax is the member's MAX_QUEUE.
	QueueMax int `json:"queue_max"`
	// LatencyEWMA, LatencyP50 and LatencyP95 are the member's app latency.
	LatencyEWMA time.Duration `json:"latency_ewma_ns"`
	LatencyP50  time.Duration `json:"latency_p50_ns"`
	LatencyP95  time.Duration `json:"latency_p95_ns"`
	// RPS is the member's request rate as it reported it.
	RPS float64 `json:"rps"`
	// Shed is the member's cumulative shed count.
	Shed uint64 `json:"shed"`
	// Forwarded is the member's cumulative count of requests it handed to
	// a sibling.
	Forwarded uint64 `json:"forwarded"`
	// CanScale reports whether the member can act on the platform
	// (autoscale election considers only those).
	CanScale bool `json:"can_scale"`
	// Leading is whether the member reported that it leads.
	Leading bool `json:"leading"`
	// Fails counts consecutive failed polls.
	Fails int `json:"fails"`
	// Updated is when the load figures were last refreshed (poll or header).
	Updated time.Time `json:"updated"`
	// Source names where the member was learned: "static", "dns", "swarm",
	// "process".
	Source string `json:"source"`
}

// Target is what a discovery source yields: a sibling's admin address and,
// where the source knows it, its id.
type Target struct {
	AdminAddr string
	ID        string
	Source    string
}
