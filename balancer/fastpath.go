package balancer

import (
	"math"
	"net/http"
	"time"

	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/pool"
)

// The h1 fast path asks the Handler where each request goes (Route), and
// reports each forwarding try (Forwarded): the decisions are the ones
// ServeHTTP and forwarder.serve make, in the same order, with the same
// counters.

// Route decides a client request arriving on the fast path, as ServeHTTP
// does: a local slot below the share (ShareAbove) when not draining, else
// the sibling pick chooses (outstanding counted at once), else a free local
// slot, else the queue (Queue). tried lists the siblings
// whose tries Forwarded said to retry. Without canForward (a body not all
// buffered) the request is served as TryAcquire says or handed off: the
// fallback forwards those.
func (h *Handler) Route(tried []string, canForward bool) (h1.Decision, string, string) {
	if !canForward {
		if h.TryAcquire() {
			return h1.Local, "", ""
		}
		return h1.Handoff, "", ""
	}
	draining := h.draining.Load()
	if len(tried) == 0 && !draining && h.adm.inflight.Load() < h.share && h.adm.tryAcquire() {
		return h1.Local, "", ""
	}
	if f := h.fw; f != nil && len(tried) < maxAttempts {
		below := h.adm.inflight.Load() + h.adm.queued.Load()
		if draining || !h.adm.hasRoom() {
			below = math.MaxInt64
		}
		if m, p, ok := f.pick(tried, below); ok {
			if len(tried) == 0 {
				f.forwards.Add(1)
				f.refill()
			}
			p.outstanding.Add(1)
			return h1.Forward, m.Addr, m.Key
		}
	}
	if h.adm.tryAcquire() {
		return h1.Local, "", ""
	}
	return h1.Queue, "", ""
}

// Shed records a fast-path request answered 503 after Queue, as
// shedResponse does, and returns the Retry-After value.
func (h *Handler) Shed(start time.Time) string {
	h.countShed()
	h.m.duration[statusClass(http.StatusServiceUnavailable)].Observe(time.Since(start).Seconds()) // start: the fast path's clock
	return h.retryAfter[0]
}

// Forwarded ends one forwarding try Route chose, with forwarder.serve's
// rules: an answer is learned from (latency, X-Mitosis-Load); a dial error
// (nothing sent) marks the sibling down and is retried elsewhere; an error
// after the request was written is retried only for an idempotent method
// without a body, within the retry budget; anything else is a 502.
func (h *Handler) Forwarded(r *h1.ForwardResult) (retry bool) {
	f := h.fw
	v, ok := f.peers.Load(r.Key)
	if !ok {
		return false // Route counted it on a peer that prune keeps: unreachable
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
	dial := isDialError(r.Err)
	if dial || isResetError(r.Err) {
		f.sib.MarkDown(r.Key)
	}
	switch {
	case dial:
		f.retries[reasonDial].Inc()
		f.forwarded[outcomeRetry].Inc()
		return true
	case !r.Body && isIdempotent(string(r.Method)):
		if f.takeRetry() {
			f.retries[reasonSent].Inc()
			f.forwarded[outcomeRetry].Inc()
			return true
		}
		f.retries[reasonNoRoom].Inc()
	}
	f.forwarded[outcomeError].Inc()
	h.m.duration[statusClass(502)].Observe(r.End.Sub(r.Start).Seconds())
	return false
}

// AppendHop appends the fields that mark a request this replica forwards.
func (h *Handler) AppendHop(dst []byte) []byte { return append(dst, h.hopFields...) }
