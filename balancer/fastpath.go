package balancer

import (
	"net/http"

	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/pool"
)

// The Handler is the h1 fast path's Hooks: each method asks the policy
// (policy.go) what ServeHTTP asks it for the requests net/http serves,
// and keeps the same counters.

var _ h1.Hooks = (*Handler)(nil)

// Route decides a request on the fast path (decide), its hop trust
// included (trustHop).
func (h *Handler) Route(r *h1.Request) h1.Route {
	hop := r.Hop && h.trustHop(r.Remote, r.Token)
	d := h.decide(ask{hop: hop, tried: r.Tried, canForward: r.CanForward})
	rt := h1.Route{Hop: hop}
	switch d.fate {
	case fateLocal:
		rt.Decision = h1.Local
	case fateQueue:
		rt.Decision = h1.Queue
	case fateForward:
		rt.Decision, rt.Addr, rt.Key = h1.Forward, d.m.Addr, d.m.Key
	default:
		rt.Decision = h1.Handoff
	}
	return rt
}

// Finish ends what Route or Queue started on the fast path.
func (h *Handler) Finish(o *h1.Outcome) (retry bool) {
	switch o.Kind {
	case h1.Shed:
		h.countShed()
		h.m.duration[statusClass(http.StatusServiceUnavailable)].Observe(o.End.Sub(o.Start).Seconds())
		o.RetryAfter = h.retryAfter[0]
		return false
	case h1.Forwarded:
		return h.forwarded(&o.Forward)
	}
	h.Done(o.Status, o.Start, o.AppStart, o.End, o.Released)
	return false
}

// forwarded ends one forwarding try of the fast path: an answer is
// learned from (latency, X-Mitosis-Load); a failure goes to the retry
// rule (afterTry); a failure after part of the answer reached the client
// is only counted.
func (h *Handler) forwarded(r *h1.ForwardResult) (retry bool) {
	f := h.fw
	v, ok := f.peers.Load(r.Key)
	if !ok {
		return false // decide counted it on a peer that prune keeps: unreachable
	}
	p := v.(*peer)
	p.outstanding.Add(-1)
	switch {
	case r.Err == nil:
		p.observe(r.End.Sub(r.TryStart))
		if len(r.Load) > 0 {
			if l, err := pool.ParseLoad(string(r.Load)); err == nil {
				f.learn(p, l)
			}
		}
		f.forwarded[outcomeOK].Inc()
		h.m.duration[statusClass(r.Status)].Observe(r.End.Sub(r.Start).Seconds())
		return false
	case r.Partial:
		// The client has part of the sibling's answer; it is cut off.
		f.forwarded[outcomeError].Inc()
		h.m.duration[statusClass(r.Status)].Observe(r.End.Sub(r.Start).Seconds())
		return false
	}
	// The fast path sends a buffered request in one write: after a dial
	// error nothing was sent.
	if f.afterTry(p, r.Key, tryResult{err: r.Err, body: r.Body, method: string(r.Method)}) {
		return true
	}
	h.m.duration[statusClass(http.StatusBadGateway)].Observe(r.End.Sub(r.Start).Seconds())
	return false
}

// AppendHop appends the fields that mark a request this replica forwards.
func (h *Handler) AppendHop(dst []byte) []byte { return append(dst, h.hopFields...) }
