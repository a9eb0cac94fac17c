package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Handshaker runs the server side of TLS handshakes with a configuration,
// within a timeout, and counts each in mitosis_tls_handshakes_total by
// result (net/http would only log the failures). The h1 server calls it
// for every connection its HTTPS listener accepts; Listener does for a
// net/http server. Safe for concurrent use.
type Handshaker struct {
	cfg     *tls.Config
	timeout time.Duration
	m       *Metrics
}

// NewHandshaker serves cfg; timeout bounds each handshake.
func NewHandshaker(cfg *tls.Config, timeout time.Duration, m *Metrics) *Handshaker {
	return &Handshaker{cfg: cfg, timeout: timeout, m: m}
}

// Handshake runs the handshake on c within the timeout (a deadline on c,
// cleared on success) and returns the TLS connection over c. A client
// that spoke plain HTTP is told so. On an error the caller closes c.
func (h *Handshaker) Handshake(c net.Conn) (*tls.Conn, error) {
	tc := tls.Server(c, h.cfg)
	// The deadline alone bounds it: a context would cost a goroutine per
	// handshake to watch it.
	_ = c.SetDeadline(time.Now().Add(h.timeout))
	if err := tc.HandshakeContext(context.Background()); err != nil {
		reason := handshakeReason(err)
		if reason == reasonNotTLS {
			answerPlainHTTP(c, err)
		}
		h.m.handshake(reason)
		return nil, err
	}
	_ = c.SetDeadline(time.Time{}) // the server sets its own from here on
	h.m.handshake("")
	return tc, nil
}

// Listener accepts TCP connections and hands on only those whose TLS
// handshake (Handshaker) succeeded, as *tls.Conn (so net/http serves
// HTTP/2 on those that negotiated "h2"). Each handshake runs in its own
// goroutine. Close stops accepting; handshakes under way finish or time
// out and their connections are closed.
type Listener struct {
	inner net.Listener
	hs    *Handshaker

	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

var _ net.Listener = (*Listener)(nil)

// NewListener serves cfg on inner; timeout bounds each handshake.
func NewListener(inner net.Listener, cfg *tls.Config, timeout time.Duration, m *Metrics) *Listener {
	l := &Listener{inner: inner, hs: NewHandshaker(cfg, timeout, m),
		conns: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *Listener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.Close()
				return
			}
			// Out of descriptors and the like: tell the server (net/http
			// logs it) and try again after a pause, as net/http does.
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			continue
		}
		backoff = 0
		go l.handshake(c)
	}
}

func (l *Listener) handshake(c net.Conn) {
	tc, err := l.hs.Handshake(c)
	if err != nil {
		c.Close()
		return
	}
	select {
	case l.conns <- tc:
	case <-l.done:
		tc.Close()
	}
}

// Accept returns the next connection whose handshake succeeded.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// errNoCertificate is what GetCertificate returns while there is none.
var errNoCertificate = errors.New("certs: no certificate obtained yet")

// handshakeReason sorts a failed handshake into one of handshakeReasons.
func handshakeReason(err error) string {
	var rh tls.RecordHeaderError
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.Is(err, errNoCertificate):
		return reasonNoCertificate
	case errors.As(err, &rh):
		return reasonNotTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return reasonTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return reasonClosed
	case errors.As(err, &op) && op.Op == "remote error":
		return reasonClientAlert
	}
	s := err.Error()
	for _, k := range []string{"unsupported versions", "no cipher suite", "no mutual", "no application protocol", "no supported", "no ECDHE curve", "no common"} {
		if strings.Contains(s, k) {
			return reasonNoShared
		}
	}
	return reasonOther
}

// answerPlainHTTP tells a client that spoke plain HTTP to the HTTPS port
// what it did, as net/http does, when the first bytes look like HTTP.
func answerPlainHTTP(c net.Conn, err error) {
	var rh tls.RecordHeaderError
	if !errors.As(err, &rh) || rh.Conn == nil {
		return
	}
	switch string(rh.RecordHeader[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH":
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = io.WriteString(c, "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
	}
}
