package h1

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// ErrStrayBytes is the read error of a guarded upstream connection that
// received bytes belonging to no request.
var ErrStrayBytes = errors.New("h1: bytes from the upstream that answer no request")

// GuardUpstream wraps a connection that net/http's Transport uses to reach
// an app or a sibling (for the requests net/http serves). It follows the
// responses' framing as the Transport reads them: a response without a
// body (to HEAD, or 1xx, 204, 304) ends at its head, another at its
// declared length or last chunk (RFC 9112 §6.3). Bytes past that end, in
// the same read or arriving while the connection idles in the pool, belong
// to no request: the Transport never gets them, but a read error, and the
// connection is closed instead of reused, so that no client gets another's
// (or an attacker's) bytes as its response (pool poisoning). The fast
// path's own upstream pool does the same (upstreamPool.get, relay).
//
// A response that has no length (read until the connection closes) or an
// upgrade passes unchecked: the Transport does not reuse those connections.
func GuardUpstream(c net.Conn) net.Conn {
	g := &upstreamGuard{Conn: c, sock: sockIO(c, nil)}
	g.fr.maxTrailer = 1 << 20
	return g
}

type upstreamGuard struct {
	net.Conn
	sock io.ReadWriter // for quiet: a peek at the socket
	// unread: Read has bytes from the socket it has not followed yet.
	unread atomic.Bool

	mu     sync.Mutex // the Transport writes and reads in two goroutines
	st     upState
	isHead bool   // the request in flight is HEAD
	head   []byte // the response head being read
	scan   int
	fr     bodyFramer
}

type upState uint8

const (
	uIdle  upState = iota // between a response and the next request
	uHead                 // reading a response head
	uBody                 // in a response body (fr)
	uPass                 // until the connection ends: not checked
	uStray                // bytes came that answer no request
)

func (g *upstreamGuard) Write(p []byte) (int, error) {
	g.mu.Lock()
	if g.st == uIdle && len(p) > 0 {
		// The Transport writes a request from its start (through a
		// buffer), one request at a time. Bytes that came before it,
		// waiting in the socket or read but not yet followed, answer no
		// request: the Transport's reader may be about to take them for
		// the answer to this one. Nothing is sent: the Transport tries a
		// request without a body again on a new connection.
		if g.unread.Load() || !quiet(g.sock) {
			g.st = uStray
		} else {
			g.st, g.isHead, g.head, g.scan = uHead, bytes.HasPrefix(p, []byte("HEAD ")), g.head[:0], 0
		}
	}
	stray := g.st == uStray
	g.mu.Unlock()
	if stray {
		return 0, ErrStrayBytes
	}
	return g.Conn.Write(p)
}

func (g *upstreamGuard) Read(p []byte) (int, error) {
	g.mu.Lock()
	if g.st == uStray {
		g.mu.Unlock()
		return 0, ErrStrayBytes
	}
	g.mu.Unlock()
	n, err := g.Conn.Read(p)
	if n == 0 {
		return n, err
	}
	g.unread.Store(true)
	g.mu.Lock()
	defer g.mu.Unlock()
	k := g.follow(p[:n])
	g.unread.Store(false)
	if g.st == uStray && k == 0 {
		return 0, ErrStrayBytes
	}
	return k, err
}

// follow follows responses through b and returns how many bytes of b
// belong to them; the rest answers no request (uStray).
func (g *upstreamGuard) follow(b []byte) int {
	k := 0
	for k < len(b) {
		switch g.st {
		case uIdle, uStray:
			g.st = uStray
			return k
		case uPass:
			return len(b)
		case uBody:
			k += g.fr.feed(b[k:])
			switch g.fr.st {
			case fDone:
				g.st = uIdle
			case fBad:
				g.st = uPass // the Transport's reader fails on it and closes
			}
		case uHead:
			before := len(g.head)
			g.head = append(g.head, b[k:]...)
			end, next := findHeadEnd(g.head, g.scan)
			g.scan = next
			if end < 0 {
				if len(g.head) > 1<<20 {
					g.st = uPass // the Transport refuses it (its own limit)
				}
				return len(b)
			}
			k += end - before
			g.endHead(g.head[:end])
			g.head, g.scan = g.head[:0], 0
		}
	}
	return k
}

// endHead moves on past a complete response head.
func (g *upstreamGuard) endHead(b []byte) {
	var h head
	switch {
	case !parseResponse(b, &h, noNames):
		g.st = uPass // the Transport refuses it too
	case h.status == 101:
		g.st = uPass // another protocol follows
	case h.status < 200:
		g.st = uHead // an interim response: the final one follows
	case g.isHead || h.status == 204 || h.status == 304:
		g.st = uIdle
	case h.chunked || h.contentLength >= 0:
		if g.fr.start(h.contentLength, h.chunked); g.fr.inBody() {
			g.st = uBody
		} else {
			g.st = uIdle // Content-Length: 0
		}
	default:
		g.st = uPass // until the connection closes
	}
}
