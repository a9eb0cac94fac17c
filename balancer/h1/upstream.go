package h1

import (
	"bufio"
	"io"
	"net"
	"sync"
	"time"
)

// upstreamIdleTimeout drops an idle upstream connection kept longer than
// this, like http.Transport's IdleConnTimeout (90s in DefaultTransport):
// apps often close theirs after a minute or two, and a connection closed
// on the far side costs a failed write and a retry.
const upstreamIdleTimeout = 90 * time.Second

// upReadBuf is the size of an upstream connection's read buffer: a whole
// response head, and the body in pieces of that size.
const upReadBuf = 8 << 10

// upConn is one keep-alive connection to the upstream with its reader.
type upConn struct {
	c         net.Conn
	rw        io.ReadWriter // reads and writes c (sockIO)
	br        *bufio.Reader
	idleSince time.Time
	reused    bool // taken from the idle stack (may have been closed by the app)
}

// upstreamPool keeps idle connections to one upstream in a LIFO stack: the
// most recently used one is the warmest and the least likely to have been
// closed by the app; the oldest sink to the bottom and expire there.
type upstreamPool struct {
	addr   string
	dialer *net.Dialer
	wc     *wakeClock
	max    int

	mu     sync.Mutex
	idle   []*upConn // top = last
	closed bool

	readers sync.Pool // *bufio.Reader of closed connections
}

func newUpstreamPool(addr string, dialTimeout time.Duration, max int, wc *wakeClock) *upstreamPool {
	return &upstreamPool{addr: addr, dialer: PeerDialer(dialTimeout), max: max, wc: wc}
}

// get returns an idle connection or dials a new one. An idle connection
// the app wrote to or closed while it sat in the pool is closed, never
// used (see quiet).
func (p *upstreamPool) get(now time.Time) (*upConn, error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		u := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if now.Sub(u.idleSince) >= upstreamIdleTimeout {
			// The top is the youngest: when it expired, all did.
			stale := p.idle
			p.idle = nil // a new array: stale is closed outside the lock
			p.mu.Unlock()
			p.close(u)
			for _, s := range stale {
				p.close(s)
			}
			break
		}
		p.mu.Unlock()
		if quiet(u.rw) {
			u.reused = true
			return u, nil
		}
		p.close(u)
	}
	return p.dial()
}

// quiet reports whether nothing is waiting to be read on an idle upstream
// socket: no byte and no end of stream. Bytes that arrive on a connection
// between two requests answer neither: used again, the connection would
// serve them to the next client as its response. Where the socket cannot
// be peeked at without blocking (not Linux), it reports true.
func quiet(rw io.ReadWriter) bool {
	if q, ok := rw.(interface{ quiet() bool }); ok {
		return q.quiet()
	}
	return true
}

func (p *upstreamPool) dial() (*upConn, error) {
	c, err := p.dialer.Dial("tcp", p.addr)
	if err != nil {
		return nil, err
	}
	rw := sockIO(c, p.wc)
	br, _ := p.readers.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(rw, upReadBuf)
	} else {
		br.Reset(rw)
	}
	return &upConn{c: c, rw: rw, br: br}, nil
}

// put keeps u for reuse, or closes it when the stack is full or the pool
// is closed. u must have nothing left unread.
func (p *upstreamPool) put(u *upConn, now time.Time) {
	u.idleSince = now
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.max {
		p.mu.Unlock()
		p.close(u)
		return
	}
	var expired *upConn
	if len(p.idle) > 0 && now.Sub(p.idle[0].idleSince) >= upstreamIdleTimeout {
		expired = p.idle[0]
		copy(p.idle, p.idle[1:])
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
	}
	p.idle = append(p.idle, u)
	p.mu.Unlock()
	if expired != nil {
		p.close(expired)
	}
}

// close closes u and recycles its reader.
func (p *upstreamPool) close(u *upConn) {
	_ = u.c.Close()
	u.br.Reset(nil)
	p.readers.Put(u.br)
	u.br = nil
}

// closeAll closes the idle connections; with final set, connections put
// back later are closed too.
func (p *upstreamPool) closeAll(final bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if final {
		p.closed = true
	}
	p.mu.Unlock()
	for _, u := range idle {
		p.close(u)
	}
}
