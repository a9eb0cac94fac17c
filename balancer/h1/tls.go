package h1

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
)

// TLS is how ServeTLS serves a listener of TLS connections.
type TLS struct {
	// Handshaker runs the server side of each handshake (required).
	Handshaker Handshaker
	// HSTS is the Strict-Transport-Security value added to every answer
	// the fast path writes on these connections ("" none). The fallback's
	// handler adds it to the answers net/http writes (r.TLS is set there).
	HSTS string
}

// Handshaker runs the server side of a TLS handshake on c, a connection
// just accepted: within its own deadline, which it clears on success. On
// an error the caller closes c. The certificate, the versions and the
// ALPN protocols are its concern: a connection that negotiated "h2" goes
// to the fallback server, any other is served as HTTP/1.1.
type Handshaker interface {
	Handshake(c net.Conn) (*tls.Conn, error)
}

// tlsServer is a TLS listener's part of ServeTLS.
type tlsServer struct {
	hs   Handshaker
	hsts []byte // the Strict-Transport-Security line, or nil
}

// The X-Forwarded-Proto field that ends a request head for the app, by
// the client connection's transport.
const (
	xfProtoHTTP  = "X-Forwarded-Proto: http\r\n\r\n"
	xfProtoHTTPS = "X-Forwarded-Proto: https\r\n\r\n"
)

// ServeTLS accepts TCP connections on ln and serves each after a TLS
// handshake (t.Handshaker, run in the connection's goroutine, so that a
// slow one holds up nobody): one that negotiated HTTP/2 goes to the
// fallback server as the *tls.Conn net/http needs to speak HTTP/2 on it;
// any other (http/1.1 by ALPN, or no ALPN) is served as on Serve's
// listener, fast path, guard, deadlines and limits included, reading and
// writing through crypto/tls. Its requests reach the app and siblings with
// X-Forwarded-Proto: https. Connections above MaxConns are closed without
// an answer. ServeTLS returns as Serve does; it may be called once per
// listener, alongside Serve.
func (s *Server) ServeTLS(ln net.Listener, t TLS) error {
	if t.Handshaker == nil {
		return errors.New("h1: ServeTLS needs a Handshaker")
	}
	if t.HSTS != "" && !validValue([]byte(t.HSTS)) {
		return errors.New("h1: the HSTS value must be a valid header value")
	}
	ts := &tlsServer{hs: t.Handshaker}
	if t.HSTS != "" {
		ts.hsts = []byte("Strict-Transport-Security: " + t.HSTS + "\r\n")
	}
	if err := s.listen(ln); err != nil {
		return err
	}
	return s.accept(ln, ts)
}

// serveTLS shakes hands on c, a connection admitted on a TLS listener,
// and serves it.
func (s *Server) serveTLS(c net.Conn, t *tlsServer) {
	under, raw := tlsTransport(c, s.wc)
	tc, err := t.hs.Handshake(under)
	if err != nil {
		_ = c.Close()
		s.connDone()
		return
	}
	sock := newTLSSock(tc, raw)
	var handed net.Conn
	switch {
	case tc.ConnectionState().NegotiatedProtocol == "h2":
		handed = tc // counted out by the fallback's ConnState (hideHTTP2)
	case s.cfg.Upstream == "":
		handed = s.guard(&tlsConn{Conn: tc, under: under}, sock, nil)
	default:
		cc := s.newConn(&tlsConn{Conn: tc, under: under}, sock)
		cc.xfProto, cc.hsts, cc.tls = xfProtoHTTPS, t.hsts, true
		s.serveFast(cc, false)
		return
	}
	if !s.hl.hand(handed) {
		_ = tc.Close()
		s.connDone()
	}
}

// tlsConn is a TLS connection the fast path or the guard serves. Its
// Close sends the close_notify alert only if the socket takes it at once,
// as nginx does: a client that does not read would otherwise hold the
// closing goroutine up to 5 s (crypto/tls's bound, which the raw path's
// per-wait deadline would stretch to WriteTimeout), and Shutdown closes
// idle connections under a lock.
type tlsConn struct {
	*tls.Conn
	under net.Conn // what crypto/tls reads and writes (tlsTransport)
}

func (c *tlsConn) Close() error {
	c.noWait()
	return c.Conn.Close()
}

// CloseWrite sends close_notify as Close does (net/http half-closes before
// it closes).
func (c *tlsConn) CloseWrite() error {
	c.noWait()
	return c.Conn.CloseWrite()
}

func (c *tlsConn) noWait() {
	if nw, ok := c.under.(interface{ noWait() }); ok {
		nw.noWait()
	}
}

// guard guards c, read and written through sock, for the fallback server;
// replay holds the bytes already read from it. A TLS connection's guard
// tells net/http its TLS state (Request.TLS), as the *tls.Conn would.
func (s *Server) guard(c net.Conn, sock io.ReadWriter, replay []byte) net.Conn {
	g := newGuardConn(c, sock, s, replay, s.maxHead)
	if tc, ok := c.(*tlsConn); ok {
		return &tlsGuardConn{guardConn: g, tc: tc.Conn}
	}
	return g
}

// tlsGuardConn is the guard of a TLS connection: net/http sets
// Request.TLS from ConnectionState on a connection that is not a
// *tls.Conn, so the handler sees HTTPS (X-Forwarded-Proto, HSTS).
type tlsGuardConn struct {
	*guardConn
	tc *tls.Conn
}

// ConnectionState is the handshake's result.
func (g *tlsGuardConn) ConnectionState() tls.ConnectionState { return g.tc.ConnectionState() }

// guardOf is the guard of a connection the fallback serves, or nil.
func guardOf(c net.Conn) *guardConn {
	switch g := c.(type) {
	case *guardConn:
		return g
	case *tlsGuardConn:
		return g.guardConn
	}
	return nil
}

// hideHTTP2 wraps fb's ConnState: the HTTP/2 connections ServeTLS hands
// to fb (as *tls.Conn, the only ones it hands unguarded) are counted out
// of MaxConns when they close, and not reported to the caller's hook.
// net/http reports only their opening and closing, never whether a
// stream is under way (golang.org/issue/39776), so a hook that closes the
// connections it believes idle (a drain) would cut their streams off;
// fb's Shutdown drains them instead, with GOAWAY.
func (s *Server) hideHTTP2(fb *http.Server) {
	prev := fb.ConnState
	fb.ConnState = func(c net.Conn, st http.ConnState) {
		if _, ok := c.(*tls.Conn); ok {
			if st == http.StateClosed || st == http.StateHijacked {
				s.connDone()
			}
			return
		}
		if prev != nil {
			prev(c, st)
		}
	}
}
