package balancer

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/pool"
)

// Headers mitosis speaks between replicas and to clients.
const (
	// ReplicaHeader names the replica that served a response.
	ReplicaHeader = "X-Mitosis-Replica"
	// HopHeader marks a request forwarded by a sibling (value: its id). A
	// request that carries it is served here and never forwarded again.
	HopHeader = "X-Mitosis-Hop"
	// TokenHeader carries MITOSIS_CLUSTER_TOKEN on hops and state polls.
	TokenHeader = pool.TokenHeader
)

// Fields are the names of the private fields replicas speak between
// themselves, for the h1 transport's Config.Fields: each name exists once,
// here (and in pool, for the load and the token).
func Fields() h1.Fields {
	return h1.Fields{Prefix: privatePrefix, Hop: HopHeader, Token: TokenHeader, Load: pool.LoadHeader, Replica: ReplicaHeader}
}

// siblings is what the balancer needs of the pool: the ready members (an
// immutable snapshot, read per forwarded request) and two ways to report
// what forwarding learned.
type siblings interface {
	Ready() []pool.Member
	MarkDown(key string)
	ApplyLoad(key string, l pool.Load, now time.Time)
}

// Handler is the front end's http.Handler: admission, bounded queue, the
// choice between serving locally and forwarding to a sibling, the load
// signal and the drain state. It is safe for concurrent use.
type Handler struct {
	cfg        Config
	share      int64 // ShareAbove, resolved
	app        http.Handler
	adm        *admission
	sig        *Signal
	m          *metrics
	fw         *forwarder // nil without siblings
	draining   atomic.Bool
	now        func() time.Time
	replicaVal []string
	retryAfter []string
	token      []byte // ClusterToken, for constant-time comparison
	hopFields  []byte // HopHeader and TokenHeader lines of a forwarded request
	recorders  sync.Pool
	sibAddrs   siblingAddrs          // the pool's addresses, for hop trust
	hopsFrom   func(netip.Addr) bool // more addresses whose hops are trusted (WithHopSources), or nil
}

// Option tunes a Handler.
type Option func(*Handler)

// WithClock injects the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithSiblings lets the handler forward overflow to the pool's ready
// members. transport carries the forwarded requests (nil: a tuned default).
// When s also lists every member and tells of changes (*pool.Store
// does), hops from their addresses can be trusted (see trustHop).
func WithSiblings(s siblings, transport http.RoundTripper) Option {
	return func(h *Handler) {
		h.fw = newForwarder(h, s, transport)
		if l, ok := s.(memberLister); ok {
			h.sibAddrs.l = l
		}
	}
}

// WithHopSources trusts hops from the addresses for which from reports
// true, besides the siblings' (with the cluster token when one is set):
// the fronts of the tier (MITOSIS_ROLE=entry), which forward to it but are
// not siblings. from is called per hop and must be fast and safe for
// concurrent use.
func WithHopSources(from func(netip.Addr) bool) Option {
	return func(h *Handler) { h.hopsFrom = from }
}

// WithRandom injects the random source of the two-choice selection: it
// returns an int in [0, n).
func WithRandom(intn func(n int) int) Option {
	return func(h *Handler) {
		if h.fw != nil {
			h.fw.intn = intn
		}
	}
}

// New builds the handler in front of app. Metrics go to reg.
func New(cfg Config, app http.Handler, reg prometheus.Registerer, opts ...Option) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if app == nil {
		return nil, errors.New("balancer: nil app")
	}
	h := &Handler{
		cfg:        cfg,
		app:        app,
		adm:        newAdmission(cfg.MaxInflight, cfg.QueueMax),
		now:        time.Now,
		replicaVal: []string{cfg.ID},
		retryAfter: []string{strconv.Itoa(cfg.RetryAfter)},
		token:      []byte(cfg.ClusterToken),
	}
	h.hopFields = []byte(HopHeader + ": " + cfg.ID + "\r\n")
	if cfg.ClusterToken != "" {
		h.hopFields = append(h.hopFields, TokenHeader+": "+cfg.ClusterToken+"\r\n"...)
	}
	h.share = int64(cfg.ShareAbove)
	if h.share == 0 || h.share > int64(cfg.MaxInflight) {
		h.share = int64(cfg.MaxInflight)
	}
	h.sig = &Signal{adm: h.adm}
	h.recorders.New = func() any { return &recorder{h: h} }
	for _, o := range opts {
		o(h)
	}
	h.m = newMetrics(reg, h.sig)
	if h.fw != nil {
		h.fw.registerMetrics(h.m)
	}
	return h, nil
}

// TryAcquire takes a local slot for a request without waiting, as decide
// would for a request that cannot be forwarded: false when draining or
// above the share (ShareAbove) with a sibling to share with, or when no
// slot is free. A true result must be followed by exactly one Done.
func (h *Handler) TryAcquire() bool {
	return h.decide(ask{}).fate == fateLocal
}

// Queue waits for a local slot for a request nothing else took (here and
// in ServeHTTP): in the admission queue, for at most QueueTimeout, or
// until gone is closed (the client left).
func (h *Handler) Queue(gone <-chan struct{}) bool {
	q0 := h.now()
	if h.adm.acquire(gone, h.cfg.QueueTimeout) != nil {
		return false
	}
	h.m.queueWait.Observe(h.now().Sub(q0).Seconds())
	return true
}

// TryAcquireHop takes a local slot for a trusted hop without waiting, as
// decide does for one. A true result must be followed by exactly one Done.
func (h *Handler) TryAcquireHop() bool {
	return h.decide(ask{hop: true}).fate == fateLocal
}

// AppendLoad appends the pool.LoadHeader value a hop's response carries.
func (h *Handler) AppendLoad(dst []byte) []byte { return pool.AppendLoad(dst, h.Load()) }

// Release gives back the slot of a request whose response stalled (the
// client does not keep up): the request is then delivering, counted in
// mitosis_delivering until its Done.
func (h *Handler) Release() {
	h.adm.release()
	h.m.delivering.Inc()
}

// Done ends a request that TryAcquire or TryAcquireHop admitted: it frees
// the slot (unless Release did: released) and records the request in the
// load signal and the metrics. start is when the request head was read,
// appStart when it was handed to the app, end when the response was
// written.
func (h *Handler) Done(status int, start, appStart, end time.Time, released bool) {
	if released {
		h.m.delivering.Dec()
	} else {
		h.adm.release()
	}
	h.sig.app.record(end, end.Sub(appStart))
	h.sig.total.record(end, end.Sub(start))
	h.m.duration[statusClass(status)].Observe(end.Sub(start).Seconds())
}

// Signal returns the load signal of this replica.
func (h *Handler) Signal() *Signal { return h.sig }

// SetDraining switches the handler into drain mode: new requests from
// clients go to siblings when one has room; hops and queued work are still
// served here; every response closes its connection.
func (h *Handler) SetDraining() { h.draining.Store(true) }

// Draining reports whether SetDraining was called.
func (h *Handler) Draining() bool { return h.draining.Load() }

// ForwardedCount is how many requests this replica has handed to a sibling
// (each counted once, whatever its retries); 0 without siblings.
func (h *Handler) ForwardedCount() uint64 {
	if h.fw == nil {
		return 0
	}
	return h.fw.forwards.Load()
}

// Load is the handler's load in the form siblings exchange.
func (h *Handler) Load() pool.Load {
	return pool.Load{
		Inflight: int(h.adm.inflight.Load()),
		Queued:   int(h.adm.queued.Load()),
		Capacity: int(h.adm.max),
		EWMA:     h.sig.app.ewmaDuration(),
		Draining: h.draining.Load(),
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.now()
	rec := h.recorders.Get().(*recorder)
	rec.reset(w)
	rec.sw = h.watchStream(rec, w, r)
	defer func() {
		if rec.sw != nil {
			rec.sw.stop()
		}
		h.m.duration[statusClass(rec.status())].Observe(h.now().Sub(start).Seconds())
		rec.ResponseWriter = nil
		h.recorders.Put(rec)
	}()

	if h.draining.Load() {
		// Close each connection after its response so clients reconnect
		// (to another replica where the platform routes them) and the drain
		// can end without cutting a connection in the middle of a request.
		rec.Header()["Connection"] = connClose
	}
	if r.Method == http.MethodConnect {
		// A front end is no tunnel: CONNECT host:port would reach the
		// app as "CONNECT /".
		rec.Header()["Connection"] = connClose
		writeText(rec, http.StatusMethodNotAllowed, h1.ConnectBody)
		return
	}
	// An upgrade that does not happen leaves the connection closed: past
	// such a request the guard (h1) no longer follows the framing.
	_, rec.upgrade = r.Header["Upgrade"]
	hop := h.acceptHop(r)
	if !hop {
		setForwarded(r)
	}
	if !h.readBody(rec, r) {
		return
	}
	if h.cfg.ForwardOnly {
		h.serveFront(rec, r)
		return
	}
	var tried [maxAttempts]string
	for n := 0; ; n++ {
		d := h.decide(ask{hop: hop, tried: tried[:n], canForward: true})
		if d.fate == fateLocal {
			break
		}
		if d.fate == fateForward {
			if !h.fw.forward(rec, r, d) {
				return // answered (or the client left)
			}
			tried[n] = d.m.Key
			continue
		}
		if !h.Queue(r.Context().Done()) {
			if r.Context().Err() != nil {
				// The client left while queued: its place is already free
				// and nobody is there to read an answer.
				return
			}
			h.shedResponse(rec)
			return
		}
		break
	}
	rec.slot.Store(slotHeld)
	watched := h1.SetStaller(r.Context(), rec)
	defer h.endLocal(rec, r, watched)
	h.serveLocal(rec, r, hop, start)
}

// The slot states of a request served locally on the net/http path.
const (
	slotNone     int32 = iota
	slotHeld           // taken, to give back at the end
	slotReleased       // given back when a write to the client stalled
)

// Stalled gives the slot back when a write of the response to the client
// has to wait (h1.Staller): the request is then delivering, counted in
// mitosis_delivering until it ends. It may run in another goroutine than
// ServeHTTP's (a flushing ReverseProxy writes from a timer).
func (r *recorder) Stalled() {
	if r.slot.CompareAndSwap(slotHeld, slotReleased) {
		r.h.adm.release()
		r.h.m.delivering.Inc()
	}
}

// endLocal ends a request served locally: the slot goes back, unless a
// stall gave it back already.
func (h *Handler) endLocal(rec *recorder, r *http.Request, watched bool) {
	if watched {
		h1.SetStaller(r.Context(), nil)
	}
	if rec.slot.CompareAndSwap(slotHeld, slotNone) {
		h.adm.release()
	} else if rec.slot.CompareAndSwap(slotReleased, slotNone) {
		h.m.delivering.Dec()
	}
}

// readBody reads a request body of up to BodyBuffer bytes in full before
// the request takes a slot or goes to a sibling: a client that announces a
// body and sends it slowly (the guard bounds the wait between reads,
// h1.Config.BodyTimeout) holds nothing meanwhile. The request then carries
// the buffered body with its length (a chunked one is sent on with
// Content-Length, as nginx does), and no Expect (the client has had its
// 100 Continue, from net/http, when the body was first read; the app must
// not make the proxy wait for another). A larger body is read on as the
// request goes. false: the body could not be read, and the answer (408,
// 400) is written.
func (h *Handler) readBody(w *recorder, r *http.Request) bool {
	delete(r.Header, "Expect")
	if r.Body == nil || r.Body == http.NoBody || h.cfg.BodyBuffer == 0 {
		return true
	}
	buf := new(bytes.Buffer)
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, int64(h.cfg.BodyBuffer)+1)); err != nil {
		w.Header()["Connection"] = connClose
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			writeText(w, http.StatusRequestTimeout, h1.RequestTimeoutBody)
		} else {
			writeText(w, http.StatusBadRequest, h1.BadBodyBody)
		}
		return false
	}
	if buf.Len() > h.cfg.BodyBuffer {
		r.Body = bodyReader{Reader: io.MultiReader(buf, r.Body), Closer: r.Body}
		return true
	}
	r.ContentLength, r.TransferEncoding = int64(buf.Len()), nil
	if buf.Len() == 0 {
		r.Body = http.NoBody
	} else {
		r.Body = io.NopCloser(bytes.NewReader(buf.Bytes()))
	}
	return true
}

// bodyReader is a body read on from what was buffered, closing the
// original.
type bodyReader struct {
	io.Reader
	io.Closer
}

// writeText writes one of the texts mitosis answers by itself.
func writeText(w http.ResponseWriter, code int, body string) {
	hdr := w.Header()
	hdr["Content-Type"] = textPlain
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func (h *Handler) serveLocal(w *recorder, r *http.Request, hop bool, start time.Time) {
	hdr := w.Header()
	if h.cfg.ReplicaHeader {
		hdr[ReplicaHeader] = h.replicaVal
	}
	if hop {
		var buf [64]byte
		hdr[pool.LoadHeader] = []string{string(pool.AppendLoad(buf[:0], h.Load()))}
	}
	appStart := h.now()
	h.app.ServeHTTP(w, r)
	end := h.now()
	h.sig.app.record(end, end.Sub(appStart))
	h.sig.total.record(end, end.Sub(start))
}

func (h *Handler) shedResponse(w http.ResponseWriter) {
	h.countShed()
	hdr := w.Header()
	hdr["Retry-After"] = h.retryAfter
	if h.cfg.ReplicaHeader {
		hdr[ReplicaHeader] = h.replicaVal
	}
	writeText(w, http.StatusServiceUnavailable, h1.ShedBody)
}

// countShed counts a request answered 503 for want of a slot, in the
// load signal and the metric.
func (h *Handler) countShed() {
	h.sig.shed.Add(1)
	h.m.shed.Inc()
}

// acceptHop reports whether r is a trusted hop from a sibling (trustHop),
// and removes every X-Mitosis-* field from it: they are spoken between
// replicas only and never reach the app (the fast path drops them too). A
// request whose hop is not trusted is then an ordinary client request.
func (h *Handler) acceptHop(r *http.Request) bool {
	hop := false
	if _, ok := r.Header[HopHeader]; ok {
		var got []byte
		if v := r.Header[TokenHeader]; len(v) > 0 {
			got = []byte(v[0])
		}
		remote, _ := netip.ParseAddrPort(r.RemoteAddr)
		hop = h.trustHop(remote.Addr(), got)
	}
	for k := range r.Header {
		if len(k) > len(privatePrefix) && k[:len(privatePrefix)] == privatePrefix {
			delete(r.Header, k)
		}
	}
	return hop
}

// privatePrefix starts the names of the fields replicas speak between
// themselves (in canonical form, as net/http keeps them).
const privatePrefix = "X-Mitosis-"

// setForwarded replaces any client-sent X-Forwarded-* with what this
// replica saw: only mitosis sets them, and siblings and upstreams trust them.
func setForwarded(r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	r.Header["X-Forwarded-For"] = []string{host}
	if r.Host != "" {
		r.Header["X-Forwarded-Host"] = []string{r.Host}
	} else {
		delete(r.Header, "X-Forwarded-Host")
	}
	if r.TLS != nil {
		r.Header["X-Forwarded-Proto"] = protoHTTPS
	} else {
		r.Header["X-Forwarded-Proto"] = protoHTTP
	}
}

var (
	textPlain  = []string{"text/plain; charset=utf-8"}
	connClose  = []string{"close"}
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)
