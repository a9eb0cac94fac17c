package balancer

import (
	"net/http"
	"time"
)

// frontRetryEvery is how often a front (ForwardOnly) with no sibling to
// take a request looks again.
const frontRetryEvery = 50 * time.Millisecond

// serveFront serves r as a front (Config.ForwardOnly) on the net/http
// path: to a sibling (decideFront), retried on others by the retry rule.
// When none can take it (the tier is starting, all of it restarts, or
// discovery lags) the request waits for one, looking again every
// frontRetryEvery, for up to QueueTimeout; then 503. Nothing was sent
// when no sibling took it, so any method may wait; a request whose tries
// all failed gets its answer from the last one (forward wrote a 502) or,
// when none wrote anything, a 503.
func (h *Handler) serveFront(rec *recorder, r *http.Request) {
	var tried [maxAttempts]string
	n := 0
	var give <-chan time.Time
	var again *time.Ticker
	defer func() {
		if again != nil {
			again.Stop()
		}
	}()
	for {
		d := h.decide(ask{tried: tried[:n], canForward: true})
		if d.fate == fateForward {
			if !h.fw.forward(rec, r, d) {
				return // answered (or the client left)
			}
			tried[n] = d.m.Key
			n++
			continue
		}
		if n == maxAttempts {
			h.shedResponse(rec)
			return
		}
		if again == nil {
			t := time.NewTimer(h.cfg.QueueTimeout)
			defer t.Stop()
			give, again = t.C, time.NewTicker(frontRetryEvery)
		}
		select {
		case <-again.C:
		case <-give:
			h.shedResponse(rec)
			return
		case <-r.Context().Done():
			return
		}
	}
}
