package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Hooks is what the fast path needs of the balancer, which decides every
// request's fate: where it goes and whether it is a sibling's hop
// (Route), its wait for a slot (Queue), the end of what Route started and
// whether a failed forward is tried again (Finish). This package only
// carries the decisions out; balancer.Handler makes the same ones for the
// requests net/http serves. Implementations must be safe for concurrent
// use: every connection's goroutine calls them.
type Hooks interface {
	// Route decides the request r describes (see Route and Decision). A
	// Local decision took a slot; Forward counts the request as
	// outstanding at the sibling; both end with one Finish. After Queue,
	// Queue is called. A Forward whose Finish says retry is routed again,
	// with its key added to r.Tried.
	Route(r *Request) Route
	// Queue waits for a local slot, for at most the queue timeout or
	// until gone is closed (the client left). True: the slot is taken, a
	// Finish (Served) follows. False: the fast path answers 503 and calls
	// Finish (Shed), except for a client that left.
	Queue(gone <-chan struct{}) bool
	// Release gives the slot of a request back early: its response
	// stalled (the client does not read as fast as it comes), so the app's
	// part is over and only delivering is left. At most once per request
	// that holds a slot, before its Finish (Outcome.Released says so).
	Release()
	// Finish ends what Route or Queue started, or records a shed request;
	// for a failed forward it reports whether to try again (nothing went
	// to the client yet); false makes the answer a 502.
	Finish(o *Outcome) (retry bool)
	// AppendHop appends the header fields that mark a request this
	// replica forwards (X-Mitosis-Hop, and X-Mitosis-Token when set), each
	// ending in CRLF.
	AppendHop(dst []byte) []byte
	// AppendLoad appends the X-Mitosis-Load value (pool.AppendLoad) a
	// hop's response carries, without allocating when dst has room.
	AppendLoad(dst []byte) []byte
}

// Buffer sizes per client connection. 8 KiB holds the request heads
// browsers send (cookies included); a larger head goes to net/http.
const (
	clientReadBuf  = 8 << 10
	clientWriteBuf = 8 << 10
	upWriteBuf     = 4 << 10
)

// Server serves the public listener: the fast path in this package,
// everything else through the fallback *http.Server.
type Server struct {
	cfg    Config
	hooks  Hooks
	fb     *http.Server
	log    *slog.Logger
	up     *upstreamPool
	hl     *handoffListener
	upHost []byte // Host for HTTP/1.0 requests without one
	// maxHead is the largest request head the fallback reads (its
	// MaxHeaderBytes and the 4 KiB net/http allows on top), plus one.
	maxHead int
	// replicaLine is "<Fields.Replica>: <id>\r\n", or empty.
	replicaLine []byte
	names       *fieldNames
	loadField   []byte // "<Fields.Load>: "

	wc           *wakeClock
	open         atomic.Int64 // client connections (see admitConn)
	refused      atomic.Int64
	inShutdown   atomic.Bool
	noKeepAlives atomic.Bool

	mu     sync.Mutex
	lns    []net.Listener // Serve's and ServeTLS's
	conns  map[*conn]struct{}
	fbDone chan error // fallback Serve's result; nil until started

	sibMu      sync.Mutex
	sibs       map[string]*siblingPool // by sibling address
	sibsClosed bool

	readers, writers, upWriters sync.Pool
}

// NewServer builds the server. fallback serves every handed-off
// connection; its Handler, ReadHeaderTimeout, IdleTimeout and
// MaxHeaderBytes are the caller's; its ReadTimeout and WriteTimeout must
// be 0, and NewServer wraps its ConnContext (see SetStaller) and its
// ConnState (which does not see the HTTP/2 connections of ServeTLS). A nil
// log discards.
func NewServer(cfg Config, hooks Hooks, fallback *http.Server, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if hooks == nil || fallback == nil {
		return nil, errors.New("h1: hooks and fallback server are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wc := newWakeClock()
	s := &Server{
		wc:     wc,
		cfg:    cfg,
		hooks:  hooks,
		fb:     fallback,
		log:    log,
		up:     newUpstreamPool(cfg.Upstream, cfg.DialTimeout, cfg.MaxIdleUpstream, wc),
		upHost: []byte(cfg.Upstream),
		conns:  make(map[*conn]struct{}),
		sibs:   make(map[string]*siblingPool),
	}
	if cfg.ReplicaHeader {
		s.replicaLine = fmt.Appendf(nil, "%s: %s\r\n", cfg.Fields.Replica, cfg.ReplicaID)
	}
	s.names = newFieldNames(cfg.Fields)
	s.loadField = []byte(cfg.Fields.Load + ": ")
	s.maxHead = fallback.MaxHeaderBytes
	if s.maxHead <= 0 {
		s.maxHead = http.DefaultMaxHeaderBytes
	}
	s.maxHead += 4096 + 1
	if fallback.ReadTimeout != 0 || fallback.WriteTimeout != 0 {
		// They would last a whole request; guardConn arms its own
		// deadlines per wait and clears them, which would undo those.
		return nil, errors.New("h1: the fallback server's ReadTimeout and WriteTimeout must be 0 (Config.BodyTimeout and WriteTimeout replace them)")
	}
	prev := fallback.ConnContext
	fallback.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prev != nil {
			ctx = prev(ctx, c)
		}
		if g := guardOf(c); g != nil {
			ctx = context.WithValue(ctx, guardKey{}, g)
		}
		return ctx
	}
	s.hideHTTP2(fallback)
	return s, nil
}

// Serve accepts connections on ln until Shutdown or Close (then it returns
// http.ErrServerClosed) or until ln fails. It may be called once per
// listener, alongside ServeTLS.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.listen(ln); err != nil {
		return err
	}
	return s.accept(ln, nil)
}

// listen registers ln for Shutdown and Close; the first listener starts
// the fallback server.
func (s *Server) listen(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		_ = ln.Close()
		return http.ErrServerClosed
	}
	if slices.Contains(s.lns, ln) {
		return errors.New("h1: Serve called twice")
	}
	s.lns = append(s.lns, ln)
	if s.hl == nil {
		s.hl = newHandoffListener(ln.Addr())
		s.fbDone = make(chan error, 1)
		go func() { s.fbDone <- s.fb.Serve(s.hl) }()
	}
	return nil
}

// accept runs ln's accept loop; t is nil for plain TCP.
func (s *Server) accept(ln net.Listener, t *tlsServer) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return http.ErrServerClosed
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() {
				// As net/http: back off 5ms doubling to 1s on EMFILE and friends.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("h1: accept: %w", err)
		}
		backoff = 0
		if !s.admitConn(c, t == nil) {
			continue
		}
		if t != nil {
			go s.serveTLS(c, t) // the handshake, then as below
			continue
		}
		if s.cfg.Upstream == "" {
			// No fast path: net/http serves every connection, guarded.
			if !s.hl.hand(s.guard(c, sockIO(c, s.wc), nil)) {
				_ = c.Close()
				s.connDone()
				return http.ErrServerClosed
			}
			continue
		}
		if !s.serveFast(s.newConn(c, sockIO(c, s.wc)), true) {
			return http.ErrServerClosed
		}
	}
}

// serveFast serves c on the fast path, in a new goroutine when async; it
// reports false (and closes c) when the server is shutting down.
func (s *Server) serveFast(c *conn, async bool) bool {
	if !s.track(c) {
		_ = c.c.Close()
		s.connDone()
		s.dropBuffers(c)
		return false
	}
	if async {
		go c.serve()
	} else {
		c.serve()
	}
	return true
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections, waits for in-flight
// fast requests to finish (their connections then close) and shuts the
// fallback server down with the same ctx. It returns ctx.Err() when the
// deadline passes first; the remaining connections are left to Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	for _, ln := range s.lns {
		_ = ln.Close()
	}
	fbDone := s.fbDone
	s.mu.Unlock()

	fbErr := make(chan error, 1)
	go func() { fbErr <- s.fb.Shutdown(ctx) }()

	// Poll as net/http does: 1ms doubling to 500ms (with jitter there).
	wait := time.Millisecond
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for !s.closeIdle() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			wait = min(2*wait, 500*time.Millisecond)
			timer.Reset(wait)
		}
	}
	s.up.closeAll(true)
	s.closeSiblings(true)
	var err error
	select {
	case err = <-fbErr:
	case <-ctx.Done():
		return ctx.Err()
	}
	if fbDone != nil {
		<-fbDone // returns at once: its listener is closed
	}
	return err
}

// Close closes the listener and every connection at once, fast or handed
// off, and the idle upstream connections.
func (s *Server) Close() error {
	s.inShutdown.Store(true)
	s.mu.Lock()
	var err error
	for _, ln := range s.lns {
		if lerr := ln.Close(); err == nil {
			err = lerr
		}
	}
	for c := range s.conns {
		c.state.Store(stateClosed)
		_ = c.c.Close()
	}
	s.mu.Unlock()
	if ferr := s.fb.Close(); err == nil {
		err = ferr
	}
	s.up.closeAll(true)
	s.closeSiblings(true)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// SetKeepAlivesEnabled switches keep-alive off (drain) or back on, for the
// fast path and the fallback server. Off closes idle connections and
// answers every further request with Connection: close.
func (s *Server) SetKeepAlivesEnabled(v bool) {
	s.noKeepAlives.Store(!v)
	s.fb.SetKeepAlivesEnabled(v)
	if !v {
		s.closeIdle()
	}
}

func (s *Server) keepAlives() bool { return !s.noKeepAlives.Load() && !s.inShutdown.Load() }

// closeIdle closes the connections waiting for a request and reports
// whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = c.c.Close()
		}
	}
	return len(s.conns) == 0
}

// newConn makes c, read and written through rw (sockIO, or crypto/tls's
// connection over it), a fast-path connection.
func (s *Server) newConn(c net.Conn, rw io.ReadWriter) *conn {
	cc := &conn{s: s, c: c, rw: rw, headBy: time.Now().Add(s.cfg.ReadHeaderTimeout), xfProto: xfProtoHTTP}
	if t, ok := cc.rw.(waitTuner); ok {
		t.setWriteWait(s.cfg.WriteTimeout, cc.stall)
	}
	if f, ok := cc.rw.(idleFiller); ok {
		cc.idle = f // buffers come with the first request (conn.fill)
		cc.fillFn = cc.fill
	} else {
		s.takeBuffers(cc)
	}
	if h, ok := cc.rw.(hangupWatcher); ok {
		cc.hang = h
	}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		cc.clientIP, _ = a.IP.AppendText(nil)
		cc.remote = a.AddrPort().Addr().Unmap()
	} else if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		cc.clientIP = []byte(host)
	} else {
		cc.clientIP = []byte(c.RemoteAddr().String())
	}
	return cc
}

// takeBuffers gives c its client reader and writer, from the pools.
func (s *Server) takeBuffers(c *conn) {
	if br, ok := s.readers.Get().(*bufio.Reader); ok {
		br.Reset(c.rw)
		c.br = br
	} else {
		c.br = bufio.NewReaderSize(c.rw, clientReadBuf)
	}
	if bw, ok := s.writers.Get().(*bufio.Writer); ok {
		bw.Reset(c.rw)
		c.bw = bw
	} else {
		c.bw = bufio.NewWriterSize(c.rw, clientWriteBuf)
	}
}

// dropBuffers returns c's buffers to the pools: c is finished, or idle
// with nothing buffered.
func (s *Server) dropBuffers(c *conn) {
	if c.br != nil {
		c.br.Reset(nil)
		s.readers.Put(c.br)
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		s.writers.Put(c.bw)
	}
	if c.uw != nil {
		c.uw.Reset(nil)
		s.upWriters.Put(c.uw)
	}
	c.br, c.bw, c.uw = nil, nil, nil
}
