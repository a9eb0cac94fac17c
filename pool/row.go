package pool

import (
	"math"
	"net"
	"strconv"
	"time"
)

// RowOf is the table row of the replica that reported st, as of now: m
// (its key, admin address and source) with the load st carries. It is the
// one mapping from the wire format to a row, used for every sibling after
// a poll (health.Judge) and for a replica's own row, so the autoscale
// sample reads the same kind of figure from every member: the latency is
// app time (st.LatencyMS), never the time spent queued.
//
// The public address is the host of the admin address (or of the key)
// joined with st.PublicPort; the state is draining if st says so, else
// ready. Fails is left as it was.
func RowOf(m Member, st State, now time.Time) Member {
	admin := m.AdminAddr
	if admin == "" {
		admin = m.Key
	}
	host, _, err := net.SplitHostPort(admin)
	if err != nil {
		host = admin
	}
	m.ID = st.ID
	m.Addr = net.JoinHostPort(host, strconv.Itoa(st.PublicPort))
	m.Inflight = st.Inflight
	m.Queued = st.Queued
	m.Capacity = st.Capacity
	m.QueueMax = st.QueueMax
	m.LatencyEWMA = msToDuration(st.LatencyMS.EWMA)
	m.LatencyP50 = msToDuration(st.LatencyMS.P50)
	m.LatencyP95 = msToDuration(st.LatencyMS.P95)
	m.RPS = st.RPS
	m.Shed = st.Shed
	m.Forwarded = st.Forwarded
	m.CanScale = st.CanScale
	m.Leading = st.Leading
	m.Updated = now
	m.State = StateReady
	if st.Draining {
		m.State = StateDraining
	}
	return m
}

// LatencyOf is a set of durations in the wire's unit: milliseconds, to the
// microsecond.
func LatencyOf(p50, p95, p99, ewma time.Duration) Latency {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Latency{P50: ms(p50), P95: ms(p95), P99: ms(p99), EWMA: ms(ewma)}
}

// msToDuration converts the wire's float milliseconds, clamping garbage
// (negative, NaN, absurd) to a sane range instead of overflowing.
func msToDuration(ms float64) time.Duration {
	const maxMS = float64(24 * time.Hour / time.Millisecond)
	if !(ms > 0) { // also catches NaN
		return 0
	}
	if ms > maxMS {
		ms = maxMS
	}
	return time.Duration(math.Round(ms * float64(time.Millisecond))) // 114.687 is 114687µs, not 1ns less
}
