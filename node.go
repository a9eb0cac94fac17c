package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/balancer"
	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/health"
	"github.com/mitosis-run/mitosis/internal/app"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/internal/demo"
	"github.com/mitosis-run/mitosis/internal/drain"
	"github.com/mitosis-run/mitosis/pool"
	"github.com/mitosis-run/mitosis/spawner"
)

// running is a started replica: its servers, loops and the things to stop
// in order when it drains.
type running struct {
	node
	log      *slog.Logger
	pub      *http.Server
	fast     *h1.Server // nil without an upstream to proxy to
	admin    *http.Server
	pubLn    *drain.Listener
	conns    *drain.Tracker
	adminLn  net.Listener
	child    *app.Child
	plat     *platform
	cancel   context.CancelFunc // stops the background loops
	serveErr chan error
	parent   <-chan struct{} // closed when the parent process is gone
}

// start builds and starts everything; the returned replica serves until
// wait returns.
func start(ctx context.Context, c config.Config, appCmd []string, environ []string, log *slog.Logger) (*running, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	r := &running{log: log, serveErr: make(chan error, 2)}
	r.cfg = c
	r.now = time.Now

	// The app: a child process, an upstream, or the demo.
	var handler http.Handler
	var appCheck func(context.Context) error
	var fastUpstream string // host:port the fast path proxies to, "" for none
	switch {
	case len(appCmd) > 0:
		child, err := app.StartChild(appCmd, 30*time.Second, log)
		if err != nil {
			return nil, err
		}
		r.child = child
		handler = app.NewProxy(&url.URL{Scheme: "http", Host: child.Addr()}, c.Balancer.MaxInflight, log)
		appCheck = app.DialCheck(child.Addr())
		fastUpstream = child.Addr()
	case c.Upstream != "":
		u, _ := config.ParseUpstream(c.Upstream) // validated
		handler = app.NewProxy(u, c.Balancer.MaxInflight, log)
		appCheck = app.DialCheck(u.Host)
		if u.Path == "" || u.Path == "/" {
			fastUpstream = u.Host // the fast path sends the client's URI as is
		}
	default:
		handler = demo.New(c.ReplicaID)
	}
	if c.AccessLog {
		handler = app.AccessLog(handler, log)
		fastUpstream = "" // every request goes through the logging handler
	}
	r.status = health.NewStatus(appCheck, time.Second, nil)

	// Listen first: the ports are known (and taken) before siblings start.
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("MITOSIS_LISTEN=%s: %w", c.Listen, err)
	}
	r.pubLn = drain.NewListener(ln)
	r.conns = drain.NewTracker()
	if r.adminLn, err = net.Listen("tcp", c.AdminListen); err != nil {
		r.pubLn.Close()
		return nil, fmt.Errorf("MITOSIS_ADMIN_LISTEN=%s: %w", c.AdminListen, err)
	}
	r.cfg.Listen = r.pubLn.Addr().String()
	r.cfg.AdminListen = r.adminLn.Addr().String()

	r.store = pool.NewStore()
	reg.MustRegister(pool.NewCollector(r.store, 100))

	bcfg := c.Balancer
	bcfg.ID = c.ReplicaID
	// Above its target share a replica hands new work to a less loaded
	// sibling: the replicas the autoscaler started get traffic even when
	// all of it enters through one replica (host port, process driver).
	bcfg.ShareAbove = min(int(math.Ceil(c.Autoscale.TargetConcurrency)), bcfg.MaxInflight)
	r.h, err = balancer.New(bcfg, handler, reg, balancer.WithSiblings(r.store, nil))
	if err != nil {
		return nil, err
	}

	bg, cancel := context.WithCancel(context.Background())
	r.cancel = cancel

	// The platform: driver, discovery and whether this replica can act.
	r.plat, err = newPlatform(bg, r.cfg, environ, appCmd, log)
	if err != nil {
		cancel()
		return nil, err
	}
	r.canScale = r.plat.canScale.Load
	r.replicas = r.plat.doc

	syncCfg := pool.DefaultSyncConfig()
	syncCfg.Interval = c.Health.Interval
	syncCfg.SelfAdmin = selfAdmin(r.cfg.AdminListen)
	if r.plat.discovery != nil {
		syncer := pool.NewSyncer(r.store, r.plat.discovery, syncCfg, log, nil)
		go syncer.Run(bg)
	}
	fetcher := &pool.Fetcher{Client: &http.Client{Transport: balancer.NewTransport(4)}, Token: c.Balancer.ClusterToken}
	prober := health.NewProber(r.store, fetcher, c.Health, c.ReplicaID, log, nil)
	if err := prober.Register(reg); err != nil {
		cancel()
		return nil, err
	}
	go prober.Run(bg)

	if r.plat.driver != nil {
		r.loop, err = autoscale.NewLoop(c.Autoscale, r.plat.driver, autoscale.SamplerFunc(r.sample), autoscale.ElectorFunc(r.isLeader), reg, log, nil)
		if err != nil {
			cancel()
			return nil, err
		}
		r.plat.leader = r.isLeader
		go r.loop.Run(bg)
	}

	r.pub = &http.Server{
		Handler:           r.h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ConnState:         r.conns.Hook,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	r.admin = &http.Server{
		Handler:           r.adminMux(reg),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       c.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if fastUpstream != "" {
		// The fast path serves what it can and hands every other
		// connection to r.pub, which runs the full balancer.
		fc := h1.DefaultConfig()
		fc.Upstream, fc.ReplicaID, fc.ReplicaHeader = fastUpstream, c.ReplicaID, c.Balancer.ReplicaHeader
		fc.ReadHeaderTimeout, fc.IdleTimeout = c.ReadHeaderTimeout, c.IdleTimeout
		fc.MaxIdleUpstream = max(c.Balancer.MaxInflight, 16)
		if r.fast, err = h1.NewServer(fc, r.h, r.pub, log); err != nil {
			cancel()
			return nil, err
		}
		go func() { r.serveErr <- r.fast.Serve(r.pubLn) }()
	} else {
		go func() { r.serveErr <- r.pub.Serve(r.pubLn) }()
	}
	go func() { r.serveErr <- r.admin.Serve(r.adminLn) }()
	if c.ParentPID > 0 {
		r.parent = spawner.WatchParent(bg, c.ParentPID, 500*time.Millisecond)
	}
	log.Info("serving", "listen", r.cfg.Listen, "admin", r.cfg.AdminListen,
		"app", appName(c, appCmd), "driver", r.plat.kind, "discovery", r.plat.discoveryMode,
		"max_inflight", c.Balancer.MaxInflight, "queue_max", c.Balancer.QueueMax)
	return r, nil
}

func appName(c config.Config, cmd []string) string {
	switch {
	case len(cmd) > 0:
		return cmd[0]
	case c.Upstream != "":
		return c.Upstream
	}
	return "demo"
}

// selfAdmin lists the addresses siblings may know this replica's admin
// server by, so discovery can leave it out.
func selfAdmin(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	out := []string{net.JoinHostPort("127.0.0.1", port)}
	if host != "" && host != "0.0.0.0" && host != "::" && host != "127.0.0.1" {
		out = append(out, addr)
	}
	if ips, err := net.InterfaceAddrs(); err == nil && (host == "" || host == "0.0.0.0" || host == "::") {
		for _, a := range ips {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
				out = append(out, net.JoinHostPort(ipn.IP.String(), port))
			}
		}
	}
	return out
}

// isLeader: the ready replica with the smallest id among those that can act.
func (r *running) isLeader() bool {
	self := autoscale.Candidate{ID: r.cfg.ReplicaID, Ready: !r.h.Draining(), CanScale: r.canScale()}
	return autoscale.Leader(self, autoscale.CandidatesOf(r.store.List()))
}

// sample is the service's load as this replica sees it: itself plus the
// siblings in its table.
func (r *running) sample(now time.Time) autoscale.Sample {
	return autoscale.SampleOf(now, append(r.store.List(), r.selfMember(now)))
}

// wait serves until a signal (or the parent's or the app's death), then
// drains: readiness fails, new work goes to siblings for DrainDelay, the
// listener closes, in-flight and queued requests finish, children stop.
func (r *running) wait(ctx context.Context) int {
	var childDone <-chan struct{}
	if r.child != nil {
		childDone = r.child.Done()
	}
	select {
	case <-ctx.Done():
		r.log.Info("signal received: draining", "delay", r.cfg.DrainDelay, "timeout", r.cfg.DrainTimeout)
	case <-r.parent:
		r.log.Info("parent process gone: draining")
	case <-childDone:
		r.log.Error("the app exited: stopping", "status", app.ExitText(r.child.Err()))
		r.cancel()
		if r.fast != nil {
			r.fast.Close()
		}
		r.pub.Close()
		r.admin.Close()
		r.plat.close(context.Background())
		return r.child.ExitCode()
	case err := <-r.serveErr:
		r.log.Error("server failed", "err", err)
		r.cancel()
		return 1
	}
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	dctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	r.status.SetDraining()
	r.h.SetDraining()
	// A second signal during the drain means: stop now.
	hurry := make(chan os.Signal, 1)
	notifyHurry(hurry)
	select {
	case <-time.After(r.cfg.DrainDelay):
	case <-hurry:
		r.log.Warn("second signal: exiting without draining")
		return 1
	}
	status := 0
	r.pubLn.Quiesce()
	select {
	case <-r.pubLn.Done():
	case <-dctx.Done():
	}
	if err := r.conns.Wait(dctx); err != nil {
		r.log.Error("drain incomplete", "err", errDrainTimeout)
		status = 1
	}
	r.conns.CloseQuiet()
	var shutdown func(context.Context) error = r.pub.Shutdown
	r.pub.SetKeepAlivesEnabled(false) // closes the idle connections left
	if r.fast != nil {
		r.fast.SetKeepAlivesEnabled(false)
		shutdown = r.fast.Shutdown // and the fallback's
	}
	if err := shutdown(dctx); err != nil && status == 0 {
		r.log.Error("drain incomplete", "err", errDrainTimeout)
		status = 1
	}
	r.cancel()
	r.plat.close(dctx)
	if r.child != nil {
		left := time.Until(deadline)
		if left < time.Second {
			left = time.Second
		}
		r.child.Stop(left)
	}
	actx, acancel := context.WithTimeout(context.Background(), time.Second)
	defer acancel()
	_ = r.admin.Shutdown(actx)
	r.log.Info("drained", "status", status)
	return status
}
