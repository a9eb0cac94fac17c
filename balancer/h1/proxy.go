package h1

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"syscall"
	"time"
)

// How a response body is framed toward the client.
type bodyMode uint8

const (
	bodyNone    bodyMode = iota // HEAD, 1xx, 204, 304
	bodyLength                  // Content-Length
	bodyChunked                 // chunked, passed through
	bodyDecode                  // chunked from the app, plain to an HTTP/1.0 client
	bodyEOF                     // until the app closes
)

// The bodies of the answers mitosis writes itself, on both paths
// (balancer.Handler uses them too): each text exists once.
const (
	BadGatewayBody        = "bad gateway: the app did not answer\n"
	BadGatewaySiblingBody = "bad gateway: sibling failed\n"
	ShedBody              = "overloaded: no capacity free, retry later\n"
	RequestTimeoutBody    = "request timeout: the body did not arrive in time\n"
	BadBodyBody           = "bad request: malformed request body\n"
	ConnectBody           = "method not allowed: CONNECT is not served here\n"
)

// maxLoadLen is the room kept in the client writer for an X-Mitosis-Load
// value (pool.AppendLoad writes under 80 bytes).
const maxLoadLen = 128

var errBadResponse = errors.New("h1: malformed response from the app")

// proxy serves one fast request (its head parsed in c.req, a slot taken)
// and reports whether the client connection stays open.
func (c *conn) proxy() (keep bool) {
	s := c.s
	start := time.Now()
	appStart := start
	if !c.queuedAt.IsZero() {
		start, c.queuedAt = c.queuedAt, time.Time{} // its time includes the queue
	}
	status := 502 // until the app's status is known
	c.held, c.released = true, false
	defer func() {
		c.lastEnd = time.Now()
		c.fin = Outcome{Kind: Served, Status: status, Start: start, AppStart: appStart, End: c.lastEnd, Released: c.released}
		s.hooks.Finish(&c.fin)
		c.held = false
	}()

	// Everything needed of the request head is taken before it is
	// discarded from the read buffer (its slices die with it).
	req := &c.req
	isHead := string(req.method) == "HEAD"
	clientMinor := req.minor
	clientClose := req.connClose || (req.minor == 0 && !req.connKeepAlive)
	hop := req.hop
	bodyLen, chunkedIn := req.contentLength, req.chunked
	c.buildRequest()
	_, _ = c.br.Discard(req.size)

	// A body that fits the read buffer is in it already (conn.readBody),
	// travels with the head in one write and stays buffered (replayable)
	// until the app answered.
	inline := !chunkedIn && bodyLen <= int64(c.br.Size())
	if inline && bodyLen > 0 {
		body, _ := c.br.Peek(int(bodyLen))
		c.out = append(c.out, body...)
	}

	if !inline {
		appStart = time.Now() // a streamed body: the app starts when its head is sent
	} // else the request went upstream microseconds after start: one clock read saved
	u, wrote, err := c.roundTrip(s.up, inline, chunkedIn, bodyLen, clientMinor, appStart)
	if err != nil {
		if !wrote {
			s.log.Warn("app did not answer", "upstream", s.cfg.Upstream, "err", err)
			c.badGateway(BadGatewayBody)
		}
		return false
	}
	if inline && bodyLen > 0 {
		_, _ = c.br.Discard(int(bodyLen))
	}

	status = c.resp.status
	src := fromApp
	if hop {
		src = fromAppToHop
	}
	if keep, err = c.relay(s.up, u, src, isHead, clientMinor, clientClose, appStart); err != nil {
		return false
	}
	return c.bw.Flush() == nil && keep
}

// Where a response comes from and goes to, for the fields added to it.
type source uint8

const (
	fromApp      source = iota // the local app, for a client: X-Mitosis-Replica
	fromAppToHop               // the local app, for a sibling: and X-Mitosis-Load
	fromSibling                // a sibling: its X-Mitosis-Replica stays, its X-Mitosis-Load is taken (conn.load)
)

// relay writes the final response whose head is in c.resp, read from u
// (a connection of p), to the client's buffer and reports whether the
// client connection stays open; the caller flushes. err is a failure after
// the head was written: the client then has part of a response and the
// connection must close.
func (c *conn) relay(p *upstreamPool, u *upConn, src source, isHead bool, clientMinor byte, clientClose bool, now time.Time) (keep bool, err error) {
	resp := &c.resp
	mode := bodyLength
	switch {
	case isHead || resp.status == 204 || resp.status == 304:
		mode = bodyNone
	case resp.chunked && clientMinor == 1:
		mode = bodyChunked
	case resp.chunked:
		mode = bodyDecode
	case resp.contentLength < 0:
		mode = bodyEOF
	}
	upReuse := !resp.connClose && (resp.minor == 1 || resp.connKeepAlive) && mode != bodyEOF &&
		!(resp.chunked && resp.contentLength >= 0) // both framings: RFC 9112 §6.3 says close
	keep = c.s.keepAlives() && !clientClose && mode != bodyEOF && mode != bodyDecode
	c.writeResponseHead(mode, keep, clientMinor, isHead, src)
	if !c.resp.inScratch {
		_, _ = u.br.Discard(resp.size)
	}
	respLen := resp.contentLength

	switch mode {
	case bodyLength:
		err = copyN(c.bw, u.br, respLen)
	case bodyChunked, bodyDecode:
		err = copyChunked(c.bw, u.br, mode == bodyDecode, c.s.cfg.MaxHeaderBytes, c.s.names)
	case bodyEOF:
		err = copyEOF(c.bw, u.br)
	}
	if err != nil {
		// The client has part of a response: all that is left is to cut
		// it off, as every proxy does.
		p.close(u)
		return false, err
	}
	// A response ends where its framing says (nothing at all after a
	// HEAD, 1xx, 204 or 304 head, RFC 9112 §6.3). A byte already read past
	// that end belongs to no request: reusing the connection would hand
	// it to the next client as its answer (pool poisoning), so the
	// connection is closed instead.
	if upReuse && u.br.Buffered() == 0 {
		p.put(u, now) // saves a clock read; errs on the old side
	} else {
		p.close(u)
	}
	return keep, nil
}

// roundTrip sends the request upstream and reads the response head (1xx
// interim responses are forwarded to HTTP/1.1 clients on the way). A
// reused connection that fails before any response byte is replaced by a
// fresh one once, when the request body was not streamed. wrote reports
// whether bytes went to the client (then no 502 can follow).
func (c *conn) roundTrip(p *upstreamPool, inline, chunked bool, bodyLen int64, clientMinor byte, now time.Time) (u *upConn, wrote bool, err error) {
	for attempt := 0; ; attempt++ {
		u, err = p.get(now)
		if err != nil {
			return nil, false, err
		}
		var got bool
		if err = c.writeRequest(u, inline, chunked, bodyLen); err == nil {
			got, err = c.readResponse(u, clientMinor, &wrote)
		}
		if err == nil {
			return u, wrote, nil
		}
		p.close(u)
		if !u.reused || got || !inline || attempt > 0 || !retryable(err) {
			return nil, wrote, err
		}
	}
}

// retryable: what a keep-alive connection the app closed while it was idle
// looks like when it is used again.
func retryable(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (c *conn) writeRequest(u *upConn, inline, chunked bool, bodyLen int64) error {
	if inline {
		_, err := u.rw.Write(c.out)
		return err
	}
	c.setReadDeadline(time.Time{}, 0) // a long upload is not a slow head
	uw := c.upWriter(u.rw)
	_, _ = uw.Write(c.out)
	var err error
	c.bodyReads(true)
	if chunked {
		err = copyChunked(uw, c.br, false, c.s.cfg.MaxHeaderBytes, c.s.names)
	} else {
		err = copyN(uw, c.br, bodyLen)
	}
	c.bodyReads(false)
	if err != nil {
		return err
	}
	return uw.Flush()
}

func (c *conn) upWriter(w io.Writer) *bufio.Writer {
	if c.uw == nil {
		if uw, ok := c.s.upWriters.Get().(*bufio.Writer); ok {
			c.uw = uw
		} else {
			c.uw = bufio.NewWriterSize(w, upWriteBuf)
		}
	}
	c.uw.Reset(w)
	return c.uw
}

// readResponse reads response heads from u into c.resp until a final one;
// interim 1xx responses go to HTTP/1.1 clients at once (1.0 ones cannot
// take them). got reports whether any byte came from u.
func (c *conn) readResponse(u *upConn, clientMinor byte, wrote *bool) (got bool, err error) {
	for {
		n, inScratch, any, err := c.readResponseHead(u)
		got = got || any
		if err != nil {
			return got, err
		}
		var b []byte
		if inScratch {
			b = c.scratch
		} else {
			b, _ = u.br.Peek(n)
		}
		if !parseResponse(b, &c.resp, c.s.names) {
			return true, errBadResponse
		}
		c.resp.inScratch = inScratch
		if c.resp.status >= 200 {
			return true, nil
		}
		if c.resp.status == 101 {
			// Upgrades are never sent on the fast path.
			return true, errBadResponse
		}
		if clientMinor == 1 {
			c.writeInterim()
			if err := c.bw.Flush(); err != nil {
				return true, err
			}
			*wrote = true
		}
		if !inScratch {
			_, _ = u.br.Discard(n)
		}
	}
}

// readResponseHead waits for a complete response head. Most fit u's read
// buffer and are parsed in place; a larger one is copied line by line
// into c.scratch (inScratch), up to MaxHeaderBytes.
func (c *conn) readResponseHead(u *upConn) (n int, inScratch, got bool, err error) {
	from := 0
	if u.br.Buffered() == 0 {
		// The app has only just been sent the request: reading now would
		// fail with EAGAIN and park. Letting the other connections run
		// first usually finds the answer there (measured: 1.6 failed reads
		// and 0.03 epoll waits per request become 0.06 and 0.01), as
		// long as the poller is not starved (wakeClock).
		c.s.wc.yield()
	}
	for {
		buf, _ := u.br.Peek(u.br.Buffered())
		n, next := findHeadEnd(buf, from)
		if n > 0 {
			return n, false, true, nil
		}
		from = next
		if len(buf) >= u.br.Size() {
			return c.readBigHead(u)
		}
		if _, err := u.br.Peek(len(buf) + 1); err != nil {
			if err == io.EOF && len(buf) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, false, len(buf) > 0, err
		}
	}
}

func (c *conn) readBigHead(u *upConn) (int, bool, bool, error) {
	c.scratch = c.scratch[:0]
	for {
		line, err := u.br.ReadSlice('\n')
		c.scratch = append(c.scratch, line...)
		if len(c.scratch) > c.s.cfg.MaxHeaderBytes {
			return 0, false, true, errHeadTooLarge
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, false, true, err
		}
		if len(line) == 1 || (len(line) == 2 && line[0] == '\r') {
			return len(c.scratch), true, true, nil
		}
	}
}

// buildRequest writes the head for the upstream into c.out: the request
// line in HTTP/1.1, the client's fields minus hop-by-hop ones (RFC 9110
// §7.6.1, and the list net/http/httputil removes), minus client-sent
// X-Forwarded-*, Forwarded and X-Mitosis-*, then the framing and this
// proxy's X-Forwarded-*. A trusted hop keeps the X-Forwarded-* and
// Forwarded its sender set (the sender saw the client) and gets none added.
func (c *conn) buildRequest() {
	r := &c.req
	b := append(c.out[:0], r.method...)
	b = append(b, ' ')
	b = append(b, r.uri...)
	b = append(b, " HTTP/1.1\r\n"...)
	for i := range r.fields {
		f := &r.fields[i]
		switch f.kind {
		case kOther:
			if r.namedByConnection(f.name) {
				continue
			}
		case kHost:
		case kTrailer:
			if !r.chunked {
				continue
			}
		case kForwarded:
			if !r.hop {
				continue
			}
		default:
			continue
		}
		b = appendField(b, f.name, f.value)
	}
	if r.hosts == 0 {
		b = appendField(b, []byte("Host"), c.s.upHost)
	}
	switch {
	case r.chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case r.contentLength >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.contentLength, 10)
		b = append(b, "\r\n"...)
	}
	if r.teTrailers {
		b = append(b, "Te: trailers\r\n"...)
	}
	if r.hop {
		c.out = append(b, "\r\n"...)
		return
	}
	b = appendField(b, []byte("X-Forwarded-For"), c.clientIP)
	if r.hosts == 1 {
		b = appendField(b, []byte("X-Forwarded-Host"), r.host)
	}
	c.out = append(b, c.xfProto...)
}

func appendField(b, name, value []byte) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// writeResponseHead writes the app's final response head to the client:
// its fields minus hop-by-hop ones, X-Mitosis-Replica, X-Mitosis-Load for
// a hop, the framing of mode and the client connection's fate.
func (c *conn) writeResponseHead(mode bodyMode, keep bool, clientMinor byte, isHead bool, src source) {
	r := &c.resp
	w := c.bw
	c.writeStatusAndFields(mode == bodyChunked, src)
	if src != fromSibling {
		_, _ = w.Write(c.s.replicaLine)
	}
	_, _ = w.Write(c.hsts)
	if src == fromAppToHop {
		_, _ = w.Write(c.s.loadField)
		if w.Available() < maxLoadLen {
			_ = w.Flush()
		}
		_, _ = w.Write(c.s.hooks.AppendLoad(w.AvailableBuffer()))
		_, _ = w.WriteString("\r\n")
	}
	switch {
	case mode == bodyLength || (mode == bodyNone && r.contentLength >= 0):
		_, _ = w.WriteString("Content-Length: ")
		if w.Available() < 20 {
			_ = w.Flush()
		}
		_, _ = w.Write(strconv.AppendInt(w.AvailableBuffer(), r.contentLength, 10))
		_, _ = w.WriteString("\r\n")
	case mode == bodyChunked || (mode == bodyNone && isHead && r.chunked && clientMinor == 1):
		_, _ = w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case !keep:
		_, _ = w.WriteString("Connection: close\r\n")
	case clientMinor == 0:
		_, _ = w.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = w.WriteString("\r\n")
}

// writeInterim forwards a 1xx response head.
func (c *conn) writeInterim() {
	c.writeStatusAndFields(false, fromApp)
	_, _ = c.bw.WriteString("\r\n")
}

// writeStatusAndFields writes the status line and the fields that pass.
// An X-Mitosis-Load is dropped for a hop (ours follows) and taken from a
// sibling's answer into c.load; a sibling's X-Mitosis-Replica stays.
func (c *conn) writeStatusAndFields(chunked bool, src source) {
	r := &c.resp
	w := c.bw
	_, _ = w.WriteString("HTTP/1.1 ")
	_, _ = w.Write(r.statusText)
	_, _ = w.WriteString("\r\n")
	for i := range r.fields {
		f := &r.fields[i]
		switch f.kind {
		case kOther:
			if r.namedByConnection(f.name) {
				continue
			}
		case kPrivate:
			if src != fromApp && equalFold(f.name, c.s.names.load) {
				if src == fromSibling && c.load == nil {
					c.load = append(c.loadBuf[:0], f.value...)
					c.loadBuf = c.load
				}
				continue
			}
		case kHost, kExpect, kForwarded, kPrivateHop:
		case kReplica:
			if src != fromSibling && c.s.replicaLine != nil {
				continue
			}
		case kTrailer:
			if !chunked {
				continue
			}
		default: // framing and hop-by-hop fields
			continue
		}
		_, _ = w.Write(f.name)
		_, _ = w.WriteString(": ")
		_, _ = w.Write(f.value)
		_, _ = w.WriteString("\r\n")
	}
}

// badGateway answers 502 and the connection closes after it.
func (c *conn) badGateway(body string) {
	w := c.bw
	_, _ = w.WriteString("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\n")
	_, _ = w.Write(c.s.replicaLine)
	_, _ = w.Write(c.hsts)
	_, _ = w.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
	_ = w.Flush()
}
