package balancer

import (
	"crypto/subtle"
	"math"
	"net/netip"

	"github.com/mitosis-run/mitosis/pool"
)

// The request policy, written once: both transports (ServeHTTP for the
// requests net/http serves, Route and Finish for the h1 fast path) ask
// these functions and carry out what they say.

// maxAttempts bounds how many siblings one request may try.
const maxAttempts = 3

// fate is where a request goes now.
type fate uint8

const (
	fateLocal   fate = iota // a local slot was taken
	fateForward             // to the sibling in the decision (counted outstanding there)
	fateQueue               // wait for a local slot
	fateHandoff             // forward, but the transport cannot (fast path): net/http does it
	fateWait                // a front with no sibling to take it: wait for one (net/http; the fast path hands it over)
)

// ask is what the policy needs to know of a request.
type ask struct {
	hop        bool     // a trusted hop from a sibling (trustHop)
	tried      []string // siblings whose tries failed and are to be retried
	canForward bool     // the transport can send the request to a sibling
}

// decision is the policy's answer: the fate, and the sibling for
// fateForward.
type decision struct {
	fate fate
	m    *pool.Member
	p    *peer
}

// decide is the one place that decides a request's fate:
//
//   - a trusted hop is served here whatever the share or the drain (it is
//     never forwarded again): a free slot, else the queue;
//   - a request whose hop header is not trusted is a client request like
//     any other (a client gains nothing by sending one: not even being
//     kept on this replica);
//   - a client request takes a local slot below the share (ShareAbove)
//     when not draining; else a ready sibling that is less loaded than
//     this replica (any sibling with room when no slot is free here, or
//     while draining), at most maxAttempts of them; else a free local
//     slot; else the queue.
//
// A forward decision counts the request as outstanding at the sibling
// until afterTry, and counts the request once in the retry budget.
func (h *Handler) decide(a ask) decision {
	if h.cfg.ForwardOnly {
		return h.decideFront(a)
	}
	if a.hop {
		if h.adm.tryAcquire() {
			return decision{fate: fateLocal}
		}
		return decision{fate: fateQueue}
	}
	draining := h.draining.Load()
	if len(a.tried) == 0 && !draining && h.adm.inflight.Load() < h.share && h.adm.tryAcquire() {
		return decision{fate: fateLocal}
	}
	if f := h.fw; f != nil && len(a.tried) < maxAttempts {
		// Above the share, only a sibling less loaded than this replica
		// is worth the hop; when no slot is free here (or while draining),
		// any sibling with room is.
		below := h.adm.inflight.Load() + h.adm.queued.Load()
		if draining || !h.adm.hasRoom() {
			below = math.MaxInt64
		}
		if d, ok := f.forwardTo(a, below); ok {
			return d
		}
	}
	if h.adm.tryAcquire() {
		return decision{fate: fateLocal}
	}
	return decision{fate: fateQueue}
}

// decideFront is decide for a front (ForwardOnly), which has no slot of
// its own: a ready sibling (pick ignores capacity for a front: a full one
// queues the hop), at most maxAttempts of them; else wait for one.
func (h *Handler) decideFront(a ask) decision {
	if f := h.fw; f != nil && len(a.tried) < maxAttempts {
		if d, ok := f.forwardTo(a, math.MaxInt64); ok {
			return d
		}
	}
	return decision{fate: fateWait}
}

// forwardTo picks a ready sibling for a (one with a load below below, not
// tried yet) and decides to forward there, or to hand the request off when
// it cannot be forwarded on its transport; false when no sibling fits.
func (f *forwarder) forwardTo(a ask, below int64) (decision, bool) {
	m, p, ok := f.pick(a.tried, below)
	if !ok {
		return decision{}, false
	}
	if !a.canForward {
		return decision{fate: fateHandoff}, true
	}
	if len(a.tried) == 0 {
		f.forwards.Add(1)
		f.refill()
	}
	p.outstanding.Add(1)
	return decision{fate: fateForward, m: m, p: p}, true
}

// trustHop reports whether a request that carries HopHeader, from remote
// with token the value of its TokenHeader (nil without one), is a
// sibling's hop: remote must be the address of a member of the pool table
// (in any state: a sibling forwards from its table, which may be ahead of
// this one's) or one WithHopSources names (a front of the tier), and when
// a ClusterToken is set the token must match it (constant time). Without
// siblings or sources no hop is trusted; a front trusts none.
func (h *Handler) trustHop(remote netip.Addr, token []byte) bool {
	if h.cfg.ForwardOnly {
		return false // a front is nobody's sibling: every request is a client's
	}
	if len(h.token) > 0 && subtle.ConstantTimeCompare(token, h.token) != 1 {
		return false
	}
	return h.sibAddrs.has(remote) || (h.hopsFrom != nil && remote.IsValid() && h.hopsFrom(remote.Unmap()))
}

// tryResult is one forwarding try that failed, as the retry rule sees it.
type tryResult struct {
	err    error
	sent   bool // some of the request may have reached the sibling
	body   bool // the request has a body
	method string
	gone   bool // the client left
}

// afterTry is the retry rule, for both transports: a sibling that failed
// before anything was sent (a dial error) is marked down and the request
// may go elsewhere, whatever its method; after the request was sent, only
// an idempotent request without a body is sent again, within the retry
// budget (RetryBudget). A refused or reset connection marks the sibling
// down too. It ends the try the decision counted outstanding.
func (f *forwarder) afterTry(p *peer, key string, t tryResult) (retry bool) {
	dial := isDialError(t.err)
	if dial || isResetError(t.err) {
		f.sib.MarkDown(key)
	}
	switch {
	case dial && !t.sent:
		f.retries[reasonDial].Inc()
		f.forwarded[outcomeRetry].Inc()
		return true
	case !t.body && isIdempotent(t.method) && !t.gone:
		if f.takeRetry() {
			f.retries[reasonSent].Inc()
			f.forwarded[outcomeRetry].Inc()
			return true
		}
		f.retries[reasonNoRoom].Inc()
	}
	if t.gone {
		// The client left: nobody to answer, and not the sibling's fault.
		f.forwarded[outcomeCanceled].Inc()
		return false
	}
	f.forwarded[outcomeError].Inc()
	return false
}
