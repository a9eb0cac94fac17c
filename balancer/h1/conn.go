package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

// Connection states, for Shutdown: only an idle connection (waiting for a
// request) may be closed from outside.
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

// conn is one client connection on the fast path. Its buffers and heads
// are reused from request to request.
type conn struct {
	s        *Server
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	uw       *bufio.Writer // to the upstream, for streamed request bodies
	rw       io.ReadWriter // the socket under br and bw (sockIO, or newTLSSock)
	idle     idleFiller    // rw, when it can wait without buffers; or nil
	hang     hangupWatcher // rw, when it can watch for the client leaving; or nil
	fillFn   func() bool   // c.fill
	fillErr  error
	clientIP []byte
	remote   netip.Addr // the client's address, for Hooks.Route
	state    atomic.Int32
	// headBy is when the first request's head must be in: counted from
	// accept, so that a client that connects and sends nothing (or
	// dribbles) is gone after ReadHeaderTimeout. Zero after the first.
	headBy time.Time
	// held: the request in hand holds a local slot (Done follows);
	// released: a stalled write to the client gave it back early.
	held, released bool

	req, resp head
	out       []byte // the request head for the upstream
	scratch   []byte // a response head too large for the upstream reader
	deadline  time.Time
	lastEnd   time.Time // when the last fast request ended, or zero
	queuedAt  time.Time // when the request in hand began to queue, or zero
	handedOff bool

	// The policy's view of the request in hand (Hooks.Route) and the end
	// of what it decided (Hooks.Finish).
	rq  Request
	fin Outcome

	// Forwarding to siblings (forward.go).
	tried         []string
	load, loadBuf []byte // a sibling's X-Mitosis-Load value

	// xfProto ends the head for the app: X-Forwarded-Proto, http or https
	// (xfProtoHTTP, xfProtoHTTPS). hsts is the Strict-Transport-Security
	// line every answer on a TLS connection carries, or nil.
	xfProto string
	hsts    []byte
	tls     bool // served by ServeTLS
}

// errHeadTooLarge: the head does not fit the read buffer (requests) or
// MaxHeaderBytes (responses).
var errHeadTooLarge = errors.New("h1: head too large")

func (c *conn) serve() {
	defer func() {
		if p := recover(); p != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.s.log.Error("h1: panic serving connection", "remote", c.c.RemoteAddr().String(), "panic", p, "stack", string(buf))
		}
		c.s.forget(c)
		if !c.handedOff {
			_ = c.c.Close()
			c.s.connDone()
		}
		c.s.dropBuffers(c)
	}()
	idleTimeout, headTimeout := c.s.cfg.IdleTimeout, c.s.cfg.ReadHeaderTimeout
	// The idle deadline may be up to idleSlack early (see setReadDeadline).
	idleSlack := min(time.Second, idleTimeout/16)
	for {
		if c.br == nil || c.br.Buffered() == 0 {
			// Wait for the next request as an idle connection.
			if !c.state.CompareAndSwap(stateActive, stateIdle) && c.state.Load() != stateIdle {
				return
			}
			if c.s.inShutdown.Load() || (c.headBy.IsZero() && c.s.noKeepAlives.Load()) {
				// After a response: keep-alives went off (closeIdle may
				// have run just before this connection was idle).
				return
			}
			if !c.headBy.IsZero() {
				c.setReadDeadline(c.headBy, 0) // the first request
			} else {
				now := c.lastEnd // the end of the request just served
				if now.IsZero() {
					now = time.Now()
				}
				c.lastEnd = time.Time{}
				c.setReadDeadline(now.Add(idleTimeout), idleSlack)
			}
			// The client has only just got its response; as before the
			// app's answer (proxy.go), let the others run before reading.
			// Not before the first request of a TLS connection: its client
			// sent it right behind the handshake, and the goroutines to
			// wait behind would be other handshakes (bench/run.sh https,
			// 2 runs each: new connections' p99 +14-18% of nginx's
			// without this yield, +41-110% with it).
			if !c.tls || c.headBy.IsZero() {
				c.s.wc.yield()
			}
			if c.awaitRequest() != nil {
				return
			}
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) && c.state.Load() != stateActive {
			return // closed by Shutdown while the request arrived
		}
		n, err := c.readHead(headTimeout)
		if err != nil {
			if errors.Is(err, errHeadTooLarge) {
				c.handoff()
			}
			return
		}
		c.headBy = time.Time{}
		b, _ := c.br.Peek(n)
		if !parseRequest(b, &c.req, c.s.names) || !c.req.fast() {
			c.handoff()
			return
		}
		switch body := c.req.contentLength; {
		case c.req.chunked, body > 0 && int64(n)+body > int64(c.br.Size()) && body <= c.s.cfg.BodyBuffer:
			// A body the read buffer cannot hold: the fallback reads it
			// before the request takes a slot (up to BodyBuffer).
			c.handoff()
			return
		case body > 0 && int64(n)+body <= int64(c.br.Size()):
			if !c.readBody(n + int(body)) {
				return
			}
		}
		if !c.route() {
			return
		}
	}
}

// awaitRequest waits for the first byte of the next request. Where the
// socket allows it (idleFiller), the connection gives its buffers back to
// the server's pools while it waits and takes them again when bytes
// arrive: an idle keep-alive connection then holds its goroutine and no
// buffers (nginx, too, frees an idle connection's buffers). This costs no
// system call more than a plain read, only a pool Put and Get.
func (c *conn) awaitRequest() error {
	if c.idle == nil {
		_, err := c.br.Peek(1)
		return err
	}
	c.fillErr = nil
	if err := c.idle.waitFill(c.fillFn); err != nil {
		return err
	}
	return c.fillErr
}

// fill is awaitRequest's callback: read what is there, or give the
// buffers back and wait.
func (c *conn) fill() bool {
	if c.br == nil {
		c.s.takeBuffers(c)
	}
	_, err := c.br.Peek(1)
	if err == errWouldBlock {
		if c.bw.Buffered() == 0 { // always, as every response is flushed
			c.s.dropBuffers(c)
		}
		return false
	}
	c.fillErr = err
	return true
}

// fast reports whether a parsed request may take the fast path.
func (h *head) fast() bool {
	return !h.connect && !h.upgrade && !h.expect
}

// setReadDeadline sets the connection's read deadline to t, unless the
// one in force is at most slack earlier: a busy keep-alive connection then
// updates its runtime timer about once per idleSlack, not per request.
func (c *conn) setReadDeadline(t time.Time, slack time.Duration) {
	if t.IsZero() {
		if c.deadline.IsZero() {
			return
		}
	} else if !c.deadline.IsZero() {
		if d := t.Sub(c.deadline); d >= 0 && d <= slack {
			return
		}
	}
	c.deadline = t
	_ = c.c.SetReadDeadline(t)
}

// readHead waits until a complete request head is buffered and returns its
// length; errHeadTooLarge when the read buffer fills first. The first byte
// is already buffered; the rest must follow within timeout.
func (c *conn) readHead(timeout time.Duration) (int, error) {
	from := 0
	armed := false
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		n, next := findHeadEnd(buf, from)
		if n > 0 {
			return n, nil
		}
		from = next
		if len(buf) >= c.br.Size() {
			return 0, errHeadTooLarge
		}
		if !armed {
			// Usually the whole head arrives in one segment and this
			// deadline is never needed. The first request's is counted
			// from accept and already armed.
			if c.headBy.IsZero() {
				c.setReadDeadline(time.Now().Add(timeout), 0)
			}
			armed = true
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			return 0, err
		}
	}
}

// readBody waits, without a slot, until the first n bytes of the read
// buffer (a head and its body) are in, and reports whether they are. A
// client that keeps it waiting BodyTimeout between two reads gets 408.
func (c *conn) readBody(n int) bool {
	if c.br.Buffered() >= n {
		return true
	}
	c.setReadDeadline(time.Time{}, 0) // the head's deadline is over
	c.bodyReads(true)
	_, err := c.br.Peek(n)
	c.bodyReads(false)
	if err == nil {
		return true
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.requestTimeout()
	}
	return false
}

// bodyReads starts (on) or ends the reading of a request body: every read
// that has to wait for the client meanwhile may wait BodyTimeout. Where
// the socket cannot arm a deadline per wait, one deadline covers the body.
func (c *conn) bodyReads(on bool) {
	d := c.s.cfg.BodyTimeout
	if !on {
		d = 0
	}
	if t, ok := c.rw.(waitTuner); ok {
		t.setReadWait(d)
	} else if on {
		c.setReadDeadline(time.Now().Add(d), 0)
	}
}

// stall is called when a write to the client has to wait (the client does
// not read as fast as the response comes): the slot of the request in
// hand, if any, goes back once; the app's part is done, and what is left
// is delivering, bounded by WriteTimeout and by the connection limit.
func (c *conn) stall() {
	if c.held && !c.released {
		c.released = true
		c.s.hooks.Release()
	}
}

// requestTimeout answers 408 to a client too slow with its body; the
// connection closes after it.
func (c *conn) requestTimeout() {
	w := c.bw
	_, _ = w.WriteString("HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n")
	_, _ = w.Write(c.s.replicaLine)
	_, _ = w.Write(c.hsts)
	_, _ = w.WriteString("Content-Length: " + strconv.Itoa(len(RequestTimeoutBody)) + "\r\nConnection: close\r\n\r\n" + RequestTimeoutBody)
	_ = w.Flush()
}

// handoff gives the connection, with every byte read so far (from the
// start of a request head on), to the fallback server, guarded.
func (c *conn) handoff() {
	buf, _ := c.br.Peek(c.br.Buffered())
	_ = c.c.SetReadDeadline(time.Time{}) // the fallback sets its own
	c.s.forget(c)
	if c.s.hl.hand(c.s.guard(c.c, c.rw, buf)) {
		c.handedOff = true
	}
}
