package balancer

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/pool"
)

// fullScanMax is the largest pool scanned in full; above it the forwarder
// samples two random candidates (power of two choices).
const fullScanMax = 5

// loadPushEvery limits how often load learned from response headers is
// written to the pool table; between pushes it lives in the peer's atomics.
const loadPushEvery = 250 * time.Millisecond

// forwarder hands requests this replica cannot take to the sibling with the
// lowest expected wait, at most once per request (hop header), with retries
// on other siblings as DESIGN.md says.
type forwarder struct {
	h         *Handler
	sib       siblings
	transport http.RoundTripper
	intn      func(n int) int

	peers    sync.Map // key -> *peer
	npeers   atomic.Int64
	forwards atomic.Uint64

	// budget holds retry tokens in hundredths: each forward adds
	// RetryBudget×100, each retry of a sent request costs 100.
	budget    atomic.Int64
	budgetCap int64

	forwarded map[string]prometheus.Counter
	retries   map[string]prometheus.Counter
}

// peer is what this replica knows of one sibling between table updates.
type peer struct {
	key         string
	proxy       *httputil.ReverseProxy
	outstanding atomic.Int64
	ewmaUS      atomic.Uint64 // float64 bits: our own view of its latency
	load        atomic.Int64  // inflight+queued from its last response header
	loadAt      atomic.Int64  // unix nanos of that header
	pushedAt    atomic.Int64
}

func newForwarder(h *Handler, s siblings, transport http.RoundTripper) *forwarder {
	if transport == nil {
		transport = NewTransport(h.cfg.MaxInflight * 2)
	}
	f := &forwarder{h: h, sib: s, transport: transport, intn: rand.IntN, budgetCap: 10 * 100}
	f.budget.Store(f.budgetCap)
	return f
}

func (f *forwarder) registerMetrics(m *metrics) {
	f.forwarded, f.retries = m.forwarded, m.retries
}

// NewTransport is a transport tuned for many short requests to few hosts:
// keep-alive pools large enough for maxIdle connections per host, no
// compression negotiation (bodies pass through as they are), HTTP/1.1.
// Its connections are guarded (h1.GuardUpstream): one that receives bytes
// past the end of a response is closed, never reused.
func NewTransport(maxIdle int) *http.Transport {
	if maxIdle < 16 {
		maxIdle = 16
	}
	// A sibling that vanishes (its node lost) fails the connection within
	// seconds, so an idempotent request is retried elsewhere.
	d := h1.PeerDialer(2 * time.Second)
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return h1.GuardUpstream(c), nil
		},
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   maxIdle,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 0,
		ExpectContinueTimeout: time.Second,
	}
}

// attempt is the writer handed to one forwarding try: ReverseProxy calls
// ErrorHandler with it only when nothing was written yet, so the error is
// kept here for the retry decision instead of becoming a 502.
type attempt struct {
	*recorder
	err error
}

// trackedBody remembers whether the transport read any of the request body,
// and never closes it, so a body that was not touched can be sent again.
type trackedBody struct {
	io.ReadCloser
	read bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 || err == nil {
		b.read = true
	}
	return n, err
}

func (b *trackedBody) Close() error { return nil }

// forward makes one try of r at the sibling decide chose, and reports
// whether the request is to be decided again (the try failed and the
// retry rule allows another; nothing was written). Otherwise the client
// has an answer: the sibling's, or a 502 (or it left).
func (f *forwarder) forward(w *recorder, r *http.Request, d decision) (again bool) {
	var body *trackedBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &trackedBody{ReadCloser: r.Body}
		r.Body = body
		defer func() { r.Body = body.ReadCloser }()
	}
	err := f.try(w, r, d.p)
	if err == nil {
		f.forwarded[outcomeOK].Inc()
		return false
	}
	t := tryResult{err: err, sent: body != nil && body.read, body: body != nil, method: r.Method, gone: r.Context().Err() != nil}
	if f.afterTry(d.p, d.m.Key, t) {
		return true
	}
	if !t.gone {
		writeText(w, http.StatusBadGateway, h1.BadGatewaySiblingBody)
	}
	return false
}

// try sends r to the sibling of p once; decide counted it outstanding.
func (f *forwarder) try(w *recorder, r *http.Request, p *peer) error {
	a := attempt{recorder: w}
	t0 := time.Now()
	defer func() {
		p.outstanding.Add(-1)
		if a.err == nil {
			p.observe(time.Since(t0))
		}
	}()
	p.proxy.ServeHTTP(&a, r)
	return a.err
}

func (p *peer) observe(d time.Duration) {
	x := float64(d / time.Microsecond)
	for {
		old := p.ewmaUS.Load()
		v := x
		if old != 0 {
			v = math.Float64frombits(old) + ewmaAlpha*(x-math.Float64frombits(old))
		}
		if p.ewmaUS.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

func (f *forwarder) refill() {
	add := int64(f.h.cfg.RetryBudget * 100)
	if n := f.budget.Add(add); n > f.budgetCap {
		f.budget.Store(f.budgetCap)
	}
}

func (f *forwarder) takeRetry() bool {
	for {
		n := f.budget.Load()
		if n < 100 {
			return false
		}
		if f.budget.CompareAndSwap(n, n-100) {
			return true
		}
	}
}

// peerFor returns the peer state of m, creating it on first use.
func (f *forwarder) peerFor(m *pool.Member) *peer {
	if v, ok := f.peers.Load(m.Key); ok {
		return v.(*peer)
	}
	p := &peer{key: m.Key}
	p.proxy = f.newProxy(m.Addr, p)
	v, loaded := f.peers.LoadOrStore(m.Key, p)
	if !loaded {
		if f.npeers.Add(1) > 4*int64(len(f.sib.Ready()))+16 {
			f.prune()
		}
	}
	return v.(*peer)
}

// prune forgets peers that left the pool and have nothing outstanding.
func (f *forwarder) prune() {
	live := map[string]bool{}
	for _, m := range f.sib.Ready() {
		live[m.Key] = true
	}
	f.peers.Range(func(k, v any) bool {
		if !live[k.(string)] && v.(*peer).outstanding.Load() == 0 {
			f.peers.Delete(k)
			f.npeers.Add(-1)
		}
		return true
	})
}

func (f *forwarder) newProxy(addr string, p *peer) *httputil.ReverseProxy {
	h := f.h
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = addr
			// The sibling's app sees the Host the client asked for.
			pr.Out.Host = pr.In.Host
			copyForwarded(pr.Out.Header, pr.In.Header)
			pr.Out.Header[HopHeader] = h.replicaVal
			if h.cfg.ClusterToken != "" {
				pr.Out.Header[TokenHeader] = []string{h.cfg.ClusterToken}
			}
		},
		Transport: f.transport,
		ModifyResponse: func(resp *http.Response) error {
			v := resp.Header.Get(pool.LoadHeader)
			if v == "" {
				return nil
			}
			resp.Header.Del(pool.LoadHeader)
			l, err := pool.ParseLoad(v)
			if err != nil {
				return nil
			}
			f.learn(p, l)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			if a, ok := w.(*attempt); ok {
				a.err = err
				return
			}
			w.WriteHeader(http.StatusBadGateway)
		},
		ErrorLog: discardLog,
	}
}

// learn keeps the load a sibling reported with its response, and writes it
// to the pool table when it matters (draining) or at most every
// loadPushEvery.
func (f *forwarder) learn(p *peer, l pool.Load) {
	now := f.h.now()
	// The sibling wrote the header while serving this very request, which
	// is done now: without it, a sibling at capacity-1 would look full.
	if l.Inflight > 0 {
		l.Inflight--
	}
	p.load.Store(int64(l.Inflight + l.Queued))
	p.loadAt.Store(now.UnixNano())
	last := p.pushedAt.Load()
	if l.Draining || now.UnixNano()-last > int64(loadPushEvery) {
		if p.pushedAt.CompareAndSwap(last, now.UnixNano()) {
			f.sib.ApplyLoad(p.key, l, now)
		}
	}
}

// copyForwarded copies the X-Forwarded-* headers this replica set (see
// setForwarded) to the outgoing request; ReverseProxy removed them.
func copyForwarded(out, in http.Header) {
	for _, k := range forwardedKeys {
		if v, ok := in[k]; ok {
			out[k] = v
		}
	}
}

var forwardedKeys = [...]string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

func isIdempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isResetError(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func float64FromBits(b uint64) float64 { return math.Float64frombits(b) }
