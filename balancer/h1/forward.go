package h1

import (
	"net/netip"
	"time"
)

// Decision is what Hooks.Route says to do with a request.
type Decision uint8

const (
	// Handoff: the fallback server decides (it forwards a request whose
	// body the fast path cannot send again).
	Handoff Decision = iota
	// Local: a local slot was taken; the request goes to the app and
	// Finish (Served) follows.
	Local
	// Forward: proxy the request to the sibling at Route.Addr; Finish
	// (Forwarded) follows each try.
	Forward
	// Queue: wait in the balancer's queue (Hooks.Queue), then go to the
	// app or answer 503.
	Queue
)

// Request is a request as Hooks.Route sees it. Its slices are valid
// during the call only.
type Request struct {
	// Remote is the client connection's peer address.
	Remote netip.Addr
	// Hop: the request carries X-Mitosis-Hop, trusted or not (Route
	// decides); Token is its X-Mitosis-Token value, or nil.
	Hop   bool
	Token []byte
	// CanForward: all of the body is buffered, so a try can be repeated
	// and the fast path can forward it. Without it Route answers Local,
	// Queue or Handoff.
	CanForward bool
	// Tried holds the keys of the siblings tried already for this request,
	// whose tries Finish said to retry.
	Tried []string
}

// Route is Hooks.Route's answer.
type Route struct {
	Decision Decision
	// Hop: the request is a trusted hop from a sibling: the X-Forwarded-*
	// its sender set go to the app, and the answer carries X-Mitosis-Load.
	// Otherwise its X-Mitosis-* fields are dropped and this proxy sets
	// X-Forwarded-*.
	Hop bool
	// Addr and Key name the sibling of a Forward decision.
	Addr, Key string
}

// OutcomeKind says what ended (Hooks.Finish).
type OutcomeKind uint8

const (
	// Served: a request that held a local slot (Local, or Queue that
	// admitted it) has its answer.
	Served OutcomeKind = iota
	// Shed: Queue gave no slot; the answer is a 503.
	Shed
	// Forwarded: one try at a sibling ended (Outcome.Forward).
	Forwarded
)

// Outcome is the end of a request, or of one forwarding try, as
// Hooks.Finish sees it.
type Outcome struct {
	Kind OutcomeKind
	// Served: the status sent; Start when the head had been read (or the
	// request began to queue), AppStart just before it went upstream, End
	// after its last byte went to the client (or it failed). Released:
	// Release was called for it. Shed: Start and End.
	Status               int
	Start, AppStart, End time.Time
	Released             bool
	// RetryAfter is set by Finish for a Shed outcome: the Retry-After
	// value (seconds) of the 503.
	RetryAfter string
	// Forward is the try, for a Forwarded outcome.
	Forward ForwardResult
}

// ForwardResult is one try of forwarding a request to a sibling. Its
// slices are valid during Finish only.
type ForwardResult struct {
	// Key is the one Route returned with the sibling's address.
	Key string
	// Method is the request's method; Body whether it has a body.
	Method []byte
	Body   bool
	// Err is nil when the sibling answered (Status); otherwise the
	// failure, with Partial set when part of the answer had already
	// reached the client (it cannot be retried nor answered with a 502).
	Err     error
	Partial bool
	Status  int
	// Load is the value of the X-Mitosis-Load field of the answer, which
	// the client does not get; nil without one.
	Load []byte
	// Start is when the request head had been read, TryStart when this
	// try began, End when it ended (the last byte went to the client, or
	// the failure).
	Start, TryStart, End time.Time
}

// route serves a request as Hooks.Route decides, forwarding to siblings
// while it says so, and reports whether the connection stays open. A
// request is forwarded only when all of it is buffered: then a failed try
// leaves it intact for the next one, for the app or for the fallback.
// Route bounds the tries (it sees Tried); nothing here counts them.
func (c *conn) route() (keep bool) {
	req := &c.req
	bodyLen := max(req.contentLength, 0)
	c.tried = c.tried[:0]
	c.rq = Request{
		Remote: c.remote, Hop: req.hop, Token: req.token, Tried: c.tried,
		CanForward: !req.chunked && int64(req.size)+bodyLen <= int64(c.br.Buffered()),
	}
	built := false
	var start time.Time
	for {
		rt := c.s.hooks.Route(&c.rq)
		req.hop = rt.Hop // from here on: a trusted hop or not
		switch rt.Decision {
		case Local:
			return c.proxy()
		case Queue:
			return c.queue()
		case Forward:
		default:
			c.handoff()
			return false
		}
		if start.IsZero() {
			start = time.Now()
		}
		if !built {
			c.buildForward(int(bodyLen))
			built = true
		}
		keep, retry := c.forward(rt.Addr, rt.Key, start, bodyLen)
		if !retry {
			if keep {
				_, _ = c.br.Discard(req.size + int(bodyLen))
			}
			return keep
		}
		c.tried = append(c.tried, rt.Key)
		c.rq.Tried = c.tried
	}
}

// buildForward writes the request for a sibling into c.out: the head as
// for the app, this replica's hop fields and the buffered body.
func (c *conn) buildForward(bodyLen int) {
	c.buildRequest()
	c.out = c.s.hooks.AppendHop(c.out[:len(c.out)-2]) // before the blank line
	c.out = append(c.out, "\r\n"...)
	if bodyLen > 0 {
		b, _ := c.br.Peek(c.req.size + bodyLen)
		c.out = append(c.out, b[c.req.size:]...)
	}
}

// forward makes one try of c.out at the sibling at addr. retry reports
// that Hooks.Finish wants another try (nothing went to the client);
// otherwise the client has an answer (the sibling's or a 502) and keep
// says whether its connection stays open.
func (c *conn) forward(addr, key string, start time.Time, bodyLen int64) (keep, retry bool) {
	req := &c.req
	c.fin = Outcome{Kind: Forwarded}
	res := &c.fin.Forward
	now := start // the first try starts with the request (one clock read less)
	if len(c.tried) > 0 {
		now = time.Now()
	}
	*res = ForwardResult{Key: key, Method: req.method, Body: bodyLen > 0, Start: start, TryStart: now}
	p := c.s.siblingPool(addr, now)
	clientMinor := req.minor
	u, wrote, err := c.roundTrip(p, true, false, 0, clientMinor, now)
	if err != nil {
		res.Err, res.Partial, res.End = err, wrote, time.Now()
		retry = c.s.hooks.Finish(&c.fin)
		if wrote {
			return false, false
		}
		if retry {
			return false, true
		}
		c.badGateway(BadGatewaySiblingBody)
		return false, false
	}
	c.load = nil
	res.Status = c.resp.status
	isHead := string(req.method) == "HEAD"
	clientClose := req.connClose || (req.minor == 0 && !req.connKeepAlive)
	keep, err = c.relay(p, u, fromSibling, isHead, clientMinor, clientClose, now)
	res.Load, res.Err, res.Partial = c.load, err, err != nil
	res.End = time.Now()
	c.lastEnd = res.End
	// Reported before the last flush: the balancer knows the sibling's
	// load by the time the client has the answer (a client-side write
	// error is not the sibling's).
	c.s.hooks.Finish(&c.fin)
	if err != nil || c.bw.Flush() != nil {
		return false, false
	}
	return keep, false
}
