package health

import (
	"net"
	"strconv"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

// Judge is the transition rule for one state poll of m, pure so it can be
// table-tested.
//
// Success (err == nil): the member takes the reported ID and load, its public
// address becomes the host it was polled at joined with st.PublicPort,
// Updated = now, Fails = 0, and its state is draining if it says so, else
// ready — one success brings a down member back.
//
// Failure: Fails grows by one, and once it reaches failThreshold
// (MITOSIS_HEALTH_FAILS; values below 1 count as 1) the member is down.
// Below the threshold the state is kept: a joining member stays joining, a
// ready one stays ready (one lost poll is not an outage), a down one stays
// down.
func Judge(m pool.Member, st pool.State, err error, now time.Time, failThreshold int) pool.Member {
	if err != nil {
		m.Fails++
		if m.Fails >= max(failThreshold, 1) {
			m.State = pool.StateDown
		}
		return m
	}
	admin := m.AdminAddr
	if admin == "" {
		admin = m.Key
	}
	host, _, splitErr := net.SplitHostPort(admin)
	if splitErr != nil {
		host = admin
	}
	m.ID = st.ID
	m.Addr = net.JoinHostPort(host, strconv.Itoa(st.PublicPort))
	m.Inflight = st.Inflight
	m.Queued = st.Queued
	m.Capacity = st.Capacity
	m.QueueMax = st.QueueMax
	m.LatencyEWMA = msToDuration(st.LatencyMS.EWMA)
	m.LatencyP95 = msToDuration(st.LatencyMS.P95)
	m.RPS = st.RPS
	m.Shed = st.Shed
	m.CanScale = st.CanScale
	m.Updated = now
	m.Fails = 0
	m.State = pool.StateReady
	if st.Draining {
		m.State = pool.StateDraining
	}
	return m
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
	return time.Duration(ms * float64(time.Millisecond))
}
