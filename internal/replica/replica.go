package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/balancer"
	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/functions"
	"github.com/mitosis-run/mitosis/health"
	"github.com/mitosis-run/mitosis/internal/admin"
	"github.com/mitosis-run/mitosis/internal/app"
	"github.com/mitosis-run/mitosis/internal/buildinfo"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/internal/dashboard"
	"github.com/mitosis-run/mitosis/internal/demo"
	"github.com/mitosis-run/mitosis/internal/drain"
	"github.com/mitosis-run/mitosis/pool"
	"github.com/mitosis-run/mitosis/spawner"
)

// Replica is one started replica: its servers, its loops, and what Wait
// stops, in order, when it drains.
type Replica struct {
	cfg config.Config // Listen and AdminListen as bound
	log *slog.Logger
	now func() time.Time
	// started is when Start began: a new replica leads only once its
	// siblings can know it (settle, canAct).
	started time.Time
	h       *balancer.Handler
	status  *health.Status
	store   *pool.Store
	loop    *autoscale.Loop // nil when the driver is off
	page    *dashboard.Dashboard
	plat    *platform
	hurry   func() (<-chan os.Signal, func())

	pub     *http.Server
	fast    *h1.Server // the public listener's server (fast path, guard, limits)
	admin   *http.Server
	pubLn   *drain.Listener
	conns   *drain.Tracker
	adminLn net.Listener
	child   *app.Child    // nil unless WithCommand
	https   *httpsServers // nil without TLS

	fns     *functions.Set // nil without functions
	closers []func() error // released after the drain

	cancel   context.CancelFunc // stops the background loops
	serveErr chan error
	parent   <-chan struct{} // closed when the parent process is gone
	rootGone <-chan struct{} // docker driver clone: closed when the root container is gone
}

// Start builds a replica from c (config.Load's result, or DefaultConfig
// changed by the caller: Start validates it again) and starts it: the app,
// both listeners, the balancer, the platform and the loops, then the
// servers. It returns once the replica serves; Wait drains it. On error
// nothing it started is left running.
func Start(c config.Config, opts ...Option) (_ *Replica, err error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	o := options{environ: os.Environ(), hurry: secondInterrupt}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = NewLogger(c, os.Stderr)
	}
	if o.reg == nil {
		o.reg = prometheus.NewRegistry()
		o.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	build := buildinfo.Read()
	if err := o.reg.Register(build.Collector()); err != nil {
		return nil, fmt.Errorf("mitosis_build_info: %w", err)
	}
	if c.Role == config.RoleEntry {
		c.Driver = "off" // an entry starts no replicas (Validate refused any other)
	}
	r := &Replica{cfg: c, log: o.log, now: time.Now, hurry: o.hurry, serveErr: make(chan error, 4)}
	r.started = r.now()
	bg, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	defer func() {
		if err != nil {
			r.abort()
		}
	}()

	// The certificate files first: one that cannot be served stops
	// start-up (a *certs.FileError) before anything starts.
	if c.TLS.Enabled() {
		if r.https, err = r.newHTTPS(c, o.reg, r.log); err != nil {
			return nil, err
		}
	}
	if r.fns, err = r.startFunctions(bg, o, o.reg); err != nil {
		return nil, err
	}
	a, err := r.startApp(c, o)
	if err != nil {
		return nil, err
	}
	if r.fns != nil {
		a.handler = r.fns.Handler(a.handler)
		if slices.ContainsFunc(r.fns.Functions(), func(f functions.Function) bool { return f.Path != "" }) {
			// Function routes are served by the handler: the fast path
			// would send them to the upstream.
			a.fastUpstream = ""
		}
	}
	r.status = health.NewStatus(r.tlsReady(a.check), time.Second, nil)

	// Listen first: the ports are known (and taken) before siblings start.
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("MITOSIS_LISTEN=%s: %w", c.Listen, err)
	}
	r.pubLn = drain.NewListener(ln)
	r.conns = drain.NewTracker()
	if r.adminLn, err = net.Listen("tcp", c.AdminListen); err != nil {
		return nil, fmt.Errorf("MITOSIS_ADMIN_LISTEN=%s: %w", c.AdminListen, err)
	}
	r.cfg.Listen = r.pubLn.Addr().String()
	r.cfg.AdminListen = r.adminLn.Addr().String()

	r.store = pool.NewStore()
	o.reg.MustRegister(pool.NewCollector(r.store, 100))
	// The platform: driver, discovery and whether this replica can act.
	if r.plat, err = newPlatform(bg, r.cfg, o.environ, o.command, o.driver, r.log); err != nil {
		return nil, err
	}
	if r.plat.token != "" {
		// Generated for the replicas this one starts: theirs is the same.
		r.cfg.HopToken = r.plat.token
	}
	bcfg := c.Balancer
	bcfg.ID = c.ReplicaID
	// Hops carry and require the hop token; the admin endpoints require
	// only a cluster token set on purpose.
	bcfg.ClusterToken = hopToken(r.cfg)
	// Above its target share a replica hands new work to a less loaded
	// sibling: the replicas the autoscaler started get traffic even when
	// all of it enters through one replica (host port, process driver).
	bcfg.ShareAbove = min(int(math.Ceil(c.Autoscale.TargetConcurrency)), bcfg.MaxInflight)
	bcfg.ForwardOnly = c.Role == config.RoleEntry
	bcfg.BodyTimeout, bcfg.WriteTimeout = c.BodyTimeout, c.WriteTimeout // for HTTP/2 streams
	bopts := []balancer.Option{balancer.WithSiblings(r.store, nil)}
	if c.HopsFrom != "" {
		hs := &hopSources{name: c.HopsFrom, lookup: net.DefaultResolver.LookupNetIP}
		go hs.run(bg, c.Health.Interval, r.log)
		bopts = append(bopts, balancer.WithHopSources(hs.has))
	}
	if r.h, err = balancer.New(bcfg, a.handler, o.reg, bopts...); err != nil {
		return nil, err
	}
	if err = r.startLoops(bg, o.reg); err != nil {
		return nil, err
	}
	r.page = dashboard.New(dashboard.Config{ID: c.ReplicaID, Version: build.Version, Driver: r.plat.kind,
		Tick: c.Autoscale.Tick, Token: c.Balancer.ClusterToken}, r.frame, r.decisions(), nil)
	go r.page.Run(bg)
	if err = r.serve(bg, a.fastUpstream, o.reg); err != nil {
		return nil, err
	}
	if c.ParentPID > 0 {
		r.parent = spawner.WatchParent(bg, c.ParentPID, 500*time.Millisecond)
	}
	r.rootGone = r.plat.watchDocker(bg, c.Health.Interval, r.log)
	r.log.Info("serving", "listen", r.cfg.Listen, "admin", r.cfg.AdminListen, "https", r.https.addrs(),
		"app", a.name, "driver", r.plat.kind, "discovery", r.plat.discoveryMode,
		"max_inflight", c.Balancer.MaxInflight, "queue_max", c.Balancer.QueueMax)
	return r, nil
}

// Addr is the public address as bound (host:port).
func (r *Replica) Addr() string { return r.cfg.Listen }

// AdminAddr is the admin address as bound (host:port).
func (r *Replica) AdminAddr() string { return r.cfg.AdminListen }

// theApp is what serves the requests, and how to tell it is up.
type theApp struct {
	handler      http.Handler
	check        func(context.Context) error // nil: in-process, always up
	fastUpstream string                      // host:port the fast path proxies to, "" for none
	name         string
}

// startApp picks the app: a handler given, a child process, an upstream,
// or the demo.
func (r *Replica) startApp(c config.Config, o options) (theApp, error) {
	var a theApp
	if o.build != nil {
		if o.handler != nil {
			return a, errors.New("give either an app handler or a function that builds one, not both")
		}
		o.handler = o.build(r)
	}
	switch {
	case c.Role == config.RoleEntry && (o.handler != nil || len(o.command) > 0):
		return a, errors.New("MITOSIS_ROLE=entry serves no app: no handler and no command after --")
	case c.Role == config.RoleEntry:
		// Never called: the balancer forwards every request (ForwardOnly).
		a = theApp{handler: http.HandlerFunc(noApp), name: "entry for " + c.Service + c.Peers}
	case o.handler != nil && (len(o.command) > 0 || c.Upstream != ""):
		return a, errors.New("an app handler excludes MITOSIS_UPSTREAM and a command")
	case len(o.command) > 0 && c.Upstream != "":
		return a, fmt.Errorf("give either MITOSIS_UPSTREAM=%s or a command after --, not both", c.Upstream)
	case o.handler != nil:
		a = theApp{handler: o.handler, name: "handler"}
	case len(o.command) > 0:
		child, err := app.StartChild(o.command, c.AppStartTimeout, r.log)
		if err != nil {
			return a, err
		}
		r.child = child
		a = theApp{
			handler:      app.NewProxy(&url.URL{Scheme: "http", Host: child.Addr()}, c.Balancer.MaxInflight, r.log),
			check:        app.DialCheck(child.Addr()),
			fastUpstream: child.Addr(),
			name:         o.command[0],
		}
	case c.Upstream != "":
		u, err := config.ParseUpstream(c.Upstream)
		if err != nil {
			return a, fmt.Errorf("MITOSIS_UPSTREAM=%q: %w", c.Upstream, err)
		}
		a = theApp{handler: app.NewProxy(u, c.Balancer.MaxInflight, r.log), check: app.DialCheck(u.Host), name: c.Upstream}
		if u.Path == "" || u.Path == "/" {
			a.fastUpstream = u.Host // the fast path sends the client's URI as is
		}
	default:
		a = theApp{handler: demo.New(c.ReplicaID), name: "demo"}
	}
	if c.AccessLog {
		a.handler = app.AccessLog(a.handler, r.log)
		a.fastUpstream = "" // every request goes through the logging handler
	}
	return a, nil
}

// noApp answers for the entry role's missing app.
func noApp(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "entry: no replica of the tier to serve this", http.StatusServiceUnavailable)
}

// startLoops starts sibling discovery, the sibling prober and, with a
// driver, the autoscale loop.
func (r *Replica) startLoops(bg context.Context, reg prometheus.Registerer) error {
	c := r.cfg
	syncCfg := pool.DefaultSyncConfig()
	syncCfg.Interval = c.Health.Interval
	syncCfg.SelfAdmin = selfAdmin(c.AdminListen)
	if r.plat.discovery != nil {
		go pool.NewSyncer(r.store, r.plat.discovery, syncCfg, r.log, nil).Run(bg)
	}
	fetcher := &pool.Fetcher{Client: &http.Client{Transport: balancer.NewTransport(4)}, Token: hopToken(c)}
	prober := health.NewProber(r.store, fetcher, c.Health, c.ReplicaID, r.log, nil)
	if err := prober.Register(reg); err != nil {
		return err
	}
	go prober.Run(bg)
	if r.plat.driver == nil {
		return nil
	}
	loop, err := autoscale.NewLoop(c.Autoscale, r.plat.driver, autoscale.SamplerFunc(r.sample), autoscale.ElectorFunc(r.isLeader), reg, r.log, nil)
	if err != nil {
		return err
	}
	r.loop = loop
	r.plat.leader = r.isLeader
	poke := loop.Poke
	r.plat.poke.Store(&poke)
	go loop.Run(bg)
	return nil
}

// maxStreams is how many streams an HTTP/2 client may have open on one
// connection (nginx's http2_max_concurrent_streams, 128): with
// MITOSIS_MAX_CONNS it bounds the requests HTTP/2 clients can have
// delivering at once.
const maxStreams = 128

// serve starts the public server (the fast path in front when there is an
// upstream address), the admin server and, with TLS, the HTTPS listener
// (on the public server too), the redirect server and the certificate
// manager's loop.
func (r *Replica) serve(bg context.Context, fastUpstream string, reg *prometheus.Registry) error {
	c := r.cfg
	r.pub = &http.Server{
		Handler:           r.https.handler(r.h),
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ConnState:         r.conns.Hook,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
		// HTTP/2 (HTTPS clients that negotiate it): nginx's stream limit,
		// and a connection that takes no byte for WRITE_TIMEOUT is closed;
		// each stream's own bounds are the balancer's (BodyTimeout,
		// WriteTimeout).
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: maxStreams, WriteByteTimeout: c.WriteTimeout},
	}
	if r.https != nil {
		if err := r.https.listen(r, c); err != nil {
			return err
		}
	}
	r.admin = &http.Server{
		Handler: r.https.withTLSAdmin(admin.Handler(admin.Options{Registry: reg, Health: r.status,
			Token: c.Balancer.ClusterToken, State: r.doc, AdminAddr: c.AdminListen, Page: r.page, PProf: c.PProf})),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       c.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
	}
	// The h1 server takes every connection: the fast path serves what it
	// can (with an upstream to proxy to) and hands every other connection,
	// guarded (deadlines, framing, the connection limit), to r.pub, which
	// runs the full balancer.
	var err error
	if r.fast, err = h1.NewServer(edgeConfig(c, fastUpstream), r.h, r.pub, r.log); err != nil {
		return err
	}
	go func() { r.serveErr <- r.fast.Serve(r.pubLn) }()
	go func() { r.serveErr <- r.admin.Serve(r.adminLn) }()
	if r.https != nil {
		r.https.serve(bg, r.fast, r.serveErr)
	}
	return nil
}
