package replica

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/internal/admin"
	"github.com/mitosis-run/mitosis/pool"
)

func (r *Replica) selfState() pool.State {
	now := r.now()
	s := r.h.Signal().Snapshot(now)
	return pool.State{
		ID:         r.cfg.ReplicaID,
		PublicPort: portOf(r.cfg.Listen),
		Inflight:   s.Inflight,
		Queued:     s.Queued,
		Capacity:   s.Capacity,
		QueueMax:   s.QueueMax,
		RPS:        s.RPS,
		LatencyMS:  latencyMS(s.App.P50, s.App.P95, s.App.P99, s.App.EWMA),
		TotalMS:    latencyMS(s.Total.P50, s.Total.P95, s.Total.P99, s.Total.EWMA),
		Shed:       s.Shed,
		Draining:   r.h.Draining(),
		Ready:      r.status.Ready(context.Background()) == nil,
		CanScale:   r.plat.canScale.Load(),
	}
}

// selfMember is this replica as a row of its own pool table. Its p95 is
// the total time (queue included): that is what the latency SLO is about.
func (r *Replica) selfMember(now time.Time) pool.Member {
	s := r.h.Signal().Snapshot(now)
	st := pool.StateReady
	if r.h.Draining() {
		st = pool.StateDraining
	}
	return pool.Member{
		Key: r.cfg.AdminListen, ID: r.cfg.ReplicaID, Addr: r.cfg.Listen, AdminAddr: r.cfg.AdminListen,
		State: st, Inflight: s.Inflight, Queued: s.Queued, Capacity: s.Capacity, QueueMax: s.QueueMax,
		LatencyEWMA: s.App.EWMA, LatencyP95: s.Total.P95, RPS: s.RPS, Shed: s.Shed,
		CanScale: r.plat.canScale.Load(), Updated: now, Source: "self",
	}
}

// doc is the state document the admin server serves.
func (r *Replica) doc() admin.Doc {
	d := admin.Doc{State: r.selfState(), Members: r.store.List(), Replicas: r.plat.doc()}
	if d.Members == nil {
		d.Members = []pool.Member{}
	}
	if r.loop != nil {
		d.Decisions = r.loop.History()
	}
	return d
}

func latencyMS(p50, p95, p99, ewma time.Duration) pool.Latency {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return pool.Latency{P50: ms(p50), P95: ms(p95), P99: ms(p99), EWMA: ms(ewma)}
}

// isLeader: the ready replica with the smallest id among those that can act.
func (r *Replica) isLeader() bool {
	self := autoscale.Candidate{ID: r.cfg.ReplicaID, Ready: !r.h.Draining(), CanScale: r.plat.canScale.Load()}
	return autoscale.Leader(self, autoscale.CandidatesOf(r.store.List()))
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
