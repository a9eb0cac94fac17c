package h1

import (
	"time"
)

// Decision is what Hooks.Route says to do with a client request.
type Decision uint8

const (
	// Handoff: the fallback server decides (it queues, or forwards a
	// request the fast path cannot).
	Handoff Decision = iota
	// Local: a local slot was taken; the request goes to the app and
	// Done follows.
	Local
	// Forward: proxy the request to the sibling at the address returned;
	// Forwarded follows each try.
	Forward
	// Queue: no slot here and no sibling: wait in the balancer's queue
	// (Hooks.Queue), then go to the app or answer 503.
	Queue
)

// ForwardResult is one try of forwarding a request to a sibling, as
// Hooks.Forwarded sees it. Its slices are valid during that call only.
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

// maxTries bounds the siblings one request may try on the fast path; the
// balancer's own bound is lower.
const maxTries = 8

// route serves a client request as Hooks.Route decides, forwarding to
// siblings while it says so, and reports whether the connection stays
// open. A request is forwarded only when all of it is buffered: then a
// failed try leaves it intact for the next one, for the app or for the
// fallback server.
func (c *conn) route() (keep bool) {
	req := &c.req
	bodyLen := max(req.contentLength, 0)
	whole := !req.chunked && int64(req.size)+bodyLen <= int64(c.br.Buffered())
	c.tried = c.tried[:0]
	built := false
	var start time.Time
	for {
		d, addr, key := c.s.hooks.Route(c.tried, whole)
		switch d {
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
		keep, retry := c.forward(addr, key, start, bodyLen)
		if !retry {
			if keep {
				_, _ = c.br.Discard(req.size + int(bodyLen))
			}
			return keep
		}
		if len(c.tried) == maxTries {
			c.badGateway(BadGatewaySiblingBody) // Hooks that never stop retrying
			return false
		}
		c.tried = append(c.tried, key)
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
// that Hooks.Forwarded wants another try (nothing went to the client);
// otherwise the client has an answer (the sibling's or a 502) and keep
// says whether its connection stays open.
func (c *conn) forward(addr, key string, start time.Time, bodyLen int64) (keep, retry bool) {
	req := &c.req
	res := &c.fres
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
		retry = c.s.hooks.Forwarded(res)
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
	c.s.hooks.Forwarded(res)
	if err != nil || c.bw.Flush() != nil {
		return false, false
	}
	return keep, false
}
