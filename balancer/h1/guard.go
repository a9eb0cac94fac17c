package h1

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// guardConn is a client connection that net/http serves: handed off by
// the fast path, or every connection when the fast path has no upstream.
// It reads the byte stream ahead of net/http and follows its framing
// (heads, Content-Length and chunked bodies, trailers), so that every
// request head net/http parses was first read by checkRequest:
//
//   - a head checkRequest refuses never reaches net/http: in its place
//     net/http reads badHead, answers 400 and closes the connection, after
//     the responses to the requests before it (pipelining keeps its order);
//   - a chunked body whose framing is not strictly valid (RFC 9112 §7.1)
//     ends at the last good byte: net/http reads an unexpected end of the
//     body and closes the connection;
//   - after a request that asks for an upgrade, or a head larger than
//     net/http accepts (it answers 431 and closes), the rest of the
//     connection passes unread.
//
// net/http alone would accept both Content-Length and Transfer-Encoding
// (and keep the connection open, serving what follows the chunked body as
// a new request), Transfer-Encoding in HTTP/1.0, repeated Content-Length
// and methods of any length.
//
// A guardConn is used by one reader and one writer at a time, as
// net/http uses a connection.
type guardConn struct {
	net.Conn
	sock io.ReadWriter // reads and writes Conn (sockIO), honouring its deadlines
	s    *Server

	in      []byte // read from the socket, not yet returned: in[off:]
	off     int
	vetted  int // of in[off:], bytes that may go to net/http as they are
	scan    int // where to resume looking for the end of a head in in[off:]
	st      guardState
	fr      bodyFramer // in gBody
	maxHead int

	closed atomic.Bool

	mu      sync.Mutex // guards staller
	staller Staller
}

// Staller is told when a write of a response to the client has to wait:
// the client does not read as fast as the response comes.
type Staller interface{ Stalled() }

type guardKey struct{}

// SetStaller makes s the one told when a write to the client of the
// request whose context is ctx has to wait, until SetStaller is called
// with nil. It reports false when that connection is not one the Server
// handed to its fallback (nothing will be told).
func SetStaller(ctx context.Context, s Staller) bool {
	g, ok := ctx.Value(guardKey{}).(*guardConn)
	if !ok {
		return false
	}
	g.mu.Lock()
	g.staller = s
	g.mu.Unlock()
	return true
}

func (g *guardConn) stall() {
	g.mu.Lock()
	s := g.staller
	g.mu.Unlock()
	if s != nil {
		s.Stalled()
	}
}

// setState moves to st; in a body, every read that has to wait for the
// client may wait BodyTimeout.
func (g *guardConn) setState(st guardState) {
	inBody, wasInBody := st == gBody, g.st == gBody
	g.st = st
	if t, ok := g.sock.(waitTuner); ok && inBody != wasInBody {
		d := g.s.cfg.BodyTimeout
		if !inBody {
			d = 0
		}
		t.setReadWait(d)
	}
}

type guardState uint8

const (
	gHead guardState = iota // before a request head
	gBody                   // in a body (fr)
	gPass                   // not HTTP/1.1 any more, or beyond net/http's limits: pass
	gBad                    // badHead was returned, or a body broke: nothing more
)

// badHead is what net/http reads in place of a head checkRequest refused:
// a request line with no valid HTTP version, which it answers with a bare
// "400 Bad Request" and Connection: close.
const badHead = "BAD / HTTP/0\r\n\r\n"

// maxChunkLine bounds a chunk-size line, as net/http does.
const maxChunkLine = 4096

// newGuardConn guards c, whose socket sock reads and writes; replay holds
// bytes already read from it, from the start of a request head on.
func newGuardConn(c net.Conn, sock io.ReadWriter, s *Server, replay []byte, maxHead int) *guardConn {
	g := &guardConn{Conn: c, sock: sock, s: s, maxHead: maxHead}
	g.fr.maxTrailer = maxHead
	if t, ok := sock.(waitTuner); ok {
		t.setReadWait(0)
		t.setWriteWait(s.cfg.WriteTimeout, g.stall)
	}
	if len(replay) > 0 {
		g.in = append(make([]byte, 0, max(len(replay), 1024)), replay...)
	}
	return g
}

func (g *guardConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if g.vetted > 0 {
			n := copy(p, g.in[g.off:g.off+g.vetted])
			g.off += n
			g.vetted -= n
			g.compact()
			return n, nil
		}
		unread := len(g.in) - g.off
		switch g.st {
		case gBad:
			return 0, io.EOF
		case gPass:
			if unread > 0 {
				g.vetted = unread
				continue
			}
			return g.read(p)
		case gHead:
			if err := g.head(); err != nil {
				return 0, err
			}
			continue
		}
		// In a body: what is buffered first, then straight into p.
		if unread > 0 {
			g.vetted = g.body(g.in[g.off:])
			if g.vetted == 0 { // the framing broke at once
				return 0, io.EOF
			}
			continue
		}
		n, err := g.read(p)
		if n == 0 {
			return 0, err
		}
		k := g.body(p[:n])
		if k < n && g.st != gBad {
			// The body ended inside p: the rest is the next head.
			g.in = append(g.in[:0], p[k:n]...)
			g.off, g.scan = 0, 0
		}
		if k == 0 {
			return 0, io.EOF
		}
		return k, nil
	}
}

// head makes sure a whole head is at in[off:] and vets it, reading as
// needed: on return its bytes are vetted, or badHead replaced them, or
// the connection passes (a head too large for net/http).
func (g *guardConn) head() error {
	for {
		b := g.in[g.off:]
		n, next := findHeadEnd(b, g.scan)
		g.scan = next
		if n < 0 {
			if len(b) >= g.maxHead {
				g.setState(gPass) // net/http answers 431 and closes
				return nil
			}
			if err := g.fill(); err != nil {
				return err
			}
			continue
		}
		g.scan = 0
		f, ok := checkRequest(b[:n])
		if !ok {
			g.in, g.off, g.vetted = append(g.in[:0], badHead...), 0, len(badHead)
			g.setState(gBad)
			return nil
		}
		g.vetted = n
		switch g.fr.start(f.length, f.chunked); {
		case f.upgrade:
			g.setState(gPass)
		case g.fr.inBody():
			g.setState(gBody)
		}
		return nil
	}
}

// fill reads more bytes into in, keeping at least 512 bytes of room: a
// head grows the buffer up to maxHead (and a little more).
func (g *guardConn) fill() error {
	if cap(g.in)-len(g.in) < 512 {
		if g.off > 0 {
			g.in = g.in[:copy(g.in, g.in[g.off:])]
			g.off = 0
		}
		if cap(g.in)-len(g.in) < 512 {
			grown := make([]byte, len(g.in), max(2*cap(g.in), 1024))
			copy(grown, g.in)
			g.in = grown
		}
	}
	n, err := g.read(g.in[len(g.in):cap(g.in)])
	g.in = g.in[:len(g.in)+n]
	if n > 0 {
		return nil
	}
	return err
}

// compact forgets what was returned; a buffer grown for a large head is
// dropped once empty.
func (g *guardConn) compact() {
	if g.off < len(g.in) {
		return
	}
	if cap(g.in) > 16<<10 {
		g.in = nil
	} else {
		g.in = g.in[:0]
	}
	g.off, g.scan = 0, 0
}

// body follows the body through b and returns how many bytes of b belong
// to the current message: all of them, or up to its end (the state is
// gHead again), or up to where the framing broke (gBad).
func (g *guardConn) body(b []byte) int {
	n := g.fr.feed(b)
	switch g.fr.st {
	case fDone:
		g.setState(gHead)
	case fBad:
		g.setState(gBad)
	}
	return n
}

// read reads from the socket; errors come as net.Conn's would, so that
// net/http tells a timeout or a closed connection from a protocol error.
func (g *guardConn) read(p []byte) (int, error) {
	n, err := g.sock.Read(p)
	if err != nil && err != io.EOF {
		if _, ok := err.(*net.OpError); !ok {
			err = &net.OpError{Op: "read", Net: "tcp", Source: g.LocalAddr(), Addr: g.RemoteAddr(), Err: err}
		}
	}
	return n, err
}

func (g *guardConn) Write(p []byte) (int, error) {
	n, err := g.sock.Write(p)
	if err != nil {
		if _, ok := err.(*net.OpError); !ok {
			err = &net.OpError{Op: "write", Net: "tcp", Source: g.LocalAddr(), Addr: g.RemoteAddr(), Err: err}
		}
	}
	return n, err
}

// CloseWrite lets net/http half-close before it closes, as it does with a
// *net.TCPConn (so that the client reads the last response before a reset).
func (g *guardConn) CloseWrite() error {
	if cw, ok := g.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (g *guardConn) Close() error {
	if g.closed.Swap(true) {
		return nil
	}
	g.s.connDone()
	return g.Conn.Close()
}
