package replica

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/balancer"
	"github.com/mitosis-run/mitosis/internal/admin"
	"github.com/mitosis-run/mitosis/internal/dashboard"
	"github.com/mitosis-run/mitosis/pool"
)

// stateOf is a replica's load in the wire format (pool.State): what its
// siblings read at /_mitosis/state and, through pool.RowOf, what its own
// row in the sample is made of. Percentiles are the signal's, bucketed
// (see pool.Latency).
func stateOf(id string, publicPort int, s balancer.Snapshot, forwarded uint64, draining, ready, canScale, leading bool) pool.State {
	return pool.State{
		ID:         id,
		PublicPort: publicPort,
		Inflight:   s.Inflight,
		Queued:     s.Queued,
		Capacity:   s.Capacity,
		QueueMax:   s.QueueMax,
		RPS:        s.RPS,
		LatencyMS:  pool.LatencyOf(s.App.P50, s.App.P95, s.App.P99, s.App.EWMA),
		TotalMS:    pool.LatencyOf(s.Total.P50, s.Total.P95, s.Total.P99, s.Total.EWMA),
		Shed:       s.Shed,
		Forwarded:  forwarded,
		Draining:   draining,
		Ready:      ready,
		CanScale:   canScale,
		Leading:    leading,
	}
}

// selfState is this replica's load as of now.
func (r *Replica) selfState(now time.Time) pool.State {
	return stateOf(r.cfg.ReplicaID, portOf(r.cfg.Listen), r.h.Signal().Snapshot(now), r.h.ForwardedCount(), r.h.Draining(),
		r.status.Ready(context.Background()) == nil, r.canAct(now, r.settle()), r.isLeader())
}

// settle is how long a new replica lets its siblings find it (a discovery
// round and a poll, twice over) before it reports that it can act; it
// takes the lead itself only after as long again. The wait is a courtesy:
// what keeps two replicas from scaling in the same tick is the handover
// in autoscale.Leader (a sibling that reports leading keeps the lead until
// it has found the new replica and stepped back), which holds however
// long discovery takes.
func (r *Replica) settle() time.Duration { return 2 * r.cfg.Health.Interval }

// canAct reports whether this replica may act on the platform and has run
// for at least wait.
func (r *Replica) canAct(now time.Time, wait time.Duration) bool {
	return r.plat.canScale.Load() && now.Sub(r.started) >= wait
}

// selfMember is this replica as a row of its own pool table: made the way
// a sibling makes it from the state it polls, so every row of the sample
// carries app latency.
func (r *Replica) selfMember(now time.Time) pool.Member {
	self := pool.Member{Key: r.cfg.AdminListen, AdminAddr: r.cfg.AdminListen, Source: "self"}
	return pool.RowOf(self, r.selfState(now), now)
}

// doc is the state document the admin server serves.
func (r *Replica) doc() admin.Doc {
	d := admin.Doc{State: r.selfState(r.now()), Members: r.store.List(), Replicas: r.plat.doc()}
	if d.Members == nil {
		d.Members = []pool.Member{}
	}
	if r.loop != nil {
		d.Decisions = r.loop.History()
	}
	return d
}

// frame is what the dashboard records each tick: the table with this
// replica's own row, and the platform's counts. Without a driver, or
// before its first Status, the ready members stand for both counts.
func (r *Replica) frame(now time.Time) dashboard.Frame {
	self := r.selfMember(now)
	pd := r.plat.doc()
	f := dashboard.Frame{Time: now, Members: append(r.store.List(), self), Self: self.Key,
		Draining: r.h.Draining(), Leader: pd.Leader, Error: pd.Error, Desired: pd.Desired, Running: pd.Running}
	if r.plat.driver == nil || r.plat.last.Load() == nil {
		for _, m := range f.Members {
			if m.State == pool.StateReady {
				f.Running++
			}
		}
		f.Desired = f.Running
	}
	f.Pending = max(f.Desired-f.Running, 0)
	return f
}

// decisions is the autoscale loop's history for the dashboard (nil
// without a driver).
func (r *Replica) decisions() func() []autoscale.Decision {
	if r.loop == nil {
		return nil
	}
	return r.loop.History
}

// isLeader: the ready replica with the smallest id among those that can act.
func (r *Replica) isLeader() bool {
	return autoscale.Leader(r.selfCandidate(), autoscale.CandidatesOf(r.store.List()))
}

// sample is the service's load as this replica sees it: itself plus the
// siblings in its table.
func (r *Replica) sample(now time.Time) autoscale.Sample {
	return autoscale.SampleOf(now, append(r.store.List(), r.selfMember(now)))
}

// selfAdmin lists the addresses siblings may know this replica's admin
// server by, so discovery can leave it out.
func selfAdmin(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	out := []string{net.JoinHostPort("127.0.0.1", port)}
	if host != "" && host != "0.0.0.0" && host != "::" && host != "127.0.0.1" {
		out = append(out, addr)
	}
	if ips, err := net.InterfaceAddrs(); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		for _, a := range ips {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				out = append(out, net.JoinHostPort(ipn.IP.String(), port))
			}
		}
	}
	return out
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
