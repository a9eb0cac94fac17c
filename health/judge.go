package health

import (
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

// Judge is the transition rule for one state poll of m, pure so it can be
// table-tested.
//
// Success (err == nil): the member becomes pool.RowOf(m, st, now) — the
// reported ID and load, its public address the host it was polled at
// joined with st.PublicPort, Updated = now, draining if it says so, else
// ready — with Fails = 0: one success brings a down member back.
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
	m = pool.RowOf(m, st, now)
	m.Fails = 0
	return m
}
