package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mitosis-run/mitosis/internal/admin"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/pool"
	"github.com/mitosis-run/mitosis/spawner"
)

// platform is where replicas come from and how siblings are found: the one
// driver resolution chose (nil when off), the discovery source, and
// whether this replica may act on the platform.
type platform struct {
	kind          string
	why           string
	discoveryMode string
	driver        spawner.Driver // wrapped: limits and the observed status
	discovery     pool.Discovery
	canScale      atomic.Bool
	last          atomic.Pointer[statusResult]
	leader        func() bool
	close         func(context.Context) // releases what the driver holds
	// token is the hop token this replica generated for itself and the
	// replicas it starts (process and docker drivers, when no cluster token
	// is set), or "".
	token string
	// poke, if set, asks the autoscale loop for an early tick: when the
	// platform can be acted on again, a pending decision need not wait.
	poke   atomic.Pointer[func()]
	docker *spawner.Docker // the docker driver, for its group's lifecycle; else nil
}

type statusResult struct {
	st  spawner.Status
	err error
}

// observed remembers the last Status the autoscale loop read, so the state
// endpoint (polled by every sibling) costs no platform call.
type observed struct {
	spawner.Driver
	p *platform
}

func (o observed) Status(ctx context.Context) (spawner.Status, error) {
	st, err := o.Driver.Status(ctx)
	o.p.last.Store(&statusResult{st: st, err: err})
	return st, err
}

func (p *platform) doc() *admin.Platform {
	if p.driver == nil {
		return &admin.Platform{Driver: "off"}
	}
	d := &admin.Platform{Driver: p.kind, CanScale: p.canScale.Load()}
	if p.leader != nil {
		d.Leader = p.leader()
	}
	if l := p.last.Load(); l != nil {
		d.Desired, d.Running = l.st.Desired, l.st.Running
		d.Pending, d.PendingReason = l.st.Pending, l.st.PendingReason
		if l.err != nil {
			d.Error = l.err.Error()
		}
	}
	return d
}

// dockerReachable reports whether a Docker daemon may be configured here:
// DOCKER_HOST set, or the default socket present.
func dockerReachable(environ []string) bool {
	for _, kv := range environ {
		if len(kv) > len("DOCKER_HOST=") && kv[:len("DOCKER_HOST=")] == "DOCKER_HOST=" {
			return true
		}
	}
	_, err := os.Stat("/var/run/docker.sock")
	return err == nil
}

// resolved is what one driver kind brings besides the driver itself: the
// siblings it knows of (process, docker) or the service it acts on (swarm).
type resolved struct {
	driver  spawner.Driver
	own     pool.Discovery                 // the driver's own replicas, or nil
	service func(context.Context) string   // swarm: the own service, or nil
	close   func(context.Context) error    // or nil
	canAct  func(ctx context.Context) bool // nil: it can always act
	// stopGrace reads how long the platform waits between SIGTERM and
	// kill (swarm: the service's stop_grace_period), or is nil where that
	// cannot be known.
	stopGrace func(ctx context.Context) (time.Duration, error)
	every     time.Duration   // how often canAct is asked (0: 10s)
	docker    *spawner.Docker // the docker driver, or nil
}

// newPlatform picks the driver (MITOSIS_DRIVER, or what spawner.Detect
// finds for auto; injected when not nil) and the discovery source.
func newPlatform(ctx context.Context, c config.Config, environ []string, appCmd []string, injected spawner.Driver, log *slog.Logger) (*platform, error) {
	p := &platform{kind: c.Driver, close: func(context.Context) {}}
	var engine *spawner.Engine
	var err error
	guard := guardAddress(c, dockerReachable(environ))
	if injected != nil {
		p.kind, p.why = "injected", "given by the program that embeds the replica"
	} else if c.Driver == "auto" || c.Driver == spawner.KindSwarm || c.Driver == spawner.KindDocker {
		// Through the guard a replica needs no Docker engine at all.
		if (c.Driver != "auto" || dockerReachable(environ)) && guard == "" {
			if engine, err = spawner.NewEngine(spawner.DefaultEngineConfig()); err != nil {
				return nil, err
			}
		}
	}
	if engine != nil {
		p.close = func(context.Context) { _ = engine.Close() }
	}
	if p.kind == "auto" {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		p.kind, p.why = spawner.Detect(dctx, engine, c.Service)
		cancel()
		log.Info("driver chosen", "driver", p.kind, "why", p.why)
	}
	if (p.kind == spawner.KindProcess || p.kind == spawner.KindDocker) && c.Balancer.ClusterToken == "" && c.HopToken == "" {
		// The process driver's children share the loopback address with
		// local clients, and the docker driver's clones may share a host:
		// the address alone cannot tell a sibling's hop from a client's
		// (see balancer's hop trust), so the replicas it starts get a
		// token. It guards hops only, not the admin endpoints.
		p.token = newToken()
		c.HopToken = p.token
	}
	d, err := resolveDriver(p.kind, c, engine, guard, environ, appCmd, injected, log)
	if err != nil {
		p.close(ctx)
		return nil, err
	}
	if d.close != nil {
		closeEngine := p.close
		p.close = func(ctx context.Context) {
			if err := d.close(ctx); err != nil {
				log.Warn("stopping child replicas", "err", err)
			}
			closeEngine(ctx)
		}
	}
	p.docker = d.docker
	if d.driver != nil {
		p.driver = observed{Driver: spawner.WithLimits(d.driver, c.Autoscale.MinReplicas, c.Autoscale.MaxReplicas), p: p}
		if d.canAct == nil {
			p.canScale.Store(true)
		} else {
			every := d.every
			if every == 0 {
				every = 10 * time.Second
			}
			go p.watchCanAct(ctx, d.canAct, every, log)
		}
	}
	if p.discoveryMode, p.discovery, err = resolveDiscovery(ctx, c, p.kind, d, engine); err != nil {
		p.close(ctx)
		return nil, err
	}
	if d.stopGrace != nil {
		go checkStopGrace(ctx, c.DrainTimeout, d.stopGrace, log)
	}
	return p, nil
}

// checkStopGrace reads the platform's stop grace once at start-up and
// warns when the drain cannot end before the platform kills the replica.
func checkStopGrace(ctx context.Context, drain time.Duration, read func(context.Context) (time.Duration, error), log *slog.Logger) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	grace, err := read(cctx)
	if err != nil {
		log.Debug("stop grace period unknown", "err", err)
		return
	}
	if msg := stopGraceProblem(drain, grace); msg != "" {
		log.Warn(msg, "drain_timeout", drain, "stop_grace_period", grace)
	}
}

// stopGraceProblem says why a drain timeout does not fit a stop grace
// period, or "" when it does: the platform kills the replica grace after
// SIGTERM, and the drain needs up to drain, plus a moment to exit.
func stopGraceProblem(drain, grace time.Duration) string {
	if drain < grace {
		return ""
	}
	return fmt.Sprintf("MITOSIS_DRAIN_TIMEOUT=%s is not below the service's stop_grace_period (%s): "+
		"the platform kills a retiring replica before its drain ends, and requests in flight fail; "+
		"lower the drain timeout or raise stop_grace_period", drain, grace)
}

// resolveDriver builds the driver of one kind.
func resolveDriver(kind string, c config.Config, engine *spawner.Engine, guard string, environ, appCmd []string, injected spawner.Driver, log *slog.Logger) (resolved, error) {
	switch kind {
	case "off":
		return resolved{}, nil
	case "injected":
		return resolved{driver: injected}, nil
	case spawner.KindProcess:
		proc, err := spawner.NewProcess(processConfig(c, environ, appCmd, log))
		if err != nil {
			return resolved{}, err
		}
		return resolved{driver: proc, own: processDiscovery(proc), close: proc.Close}, nil
	case spawner.KindSwarm:
		if guard != "" {
			log.Info("scaling through the guard", "guard", guard)
			return guardDriver(c, guard)
		}
		cfg := spawner.DefaultSwarmConfig()
		cfg.Service = c.Service
		sw, err := spawner.NewSwarm(engine, cfg)
		if err != nil {
			return resolved{}, err
		}
		service := func(ctx context.Context) string {
			s, _ := sw.Service(ctx) // empty on error: discovery reports it
			return s
		}
		return resolved{driver: sw, service: service, canAct: sw.CanAct, stopGrace: sw.StopGrace}, nil
	case spawner.KindDocker:
		cfg := spawner.DefaultDockerConfig()
		cfg.DrainTimeout = c.DrainTimeout + 2*time.Second
		if c.Balancer.ClusterToken == "" && c.HopToken != "" {
			cfg.Env = []string{"MITOSIS_HOP_TOKEN=" + c.HopToken}
		}
		d, err := spawner.NewDocker(engine, cfg)
		if err != nil {
			return resolved{}, err
		}
		return resolved{driver: d, own: dockerDiscovery(d, portOf(c.AdminListen)), docker: d}, nil
	}
	return resolved{}, errors.New("MITOSIS_DRIVER=" + kind + ": unknown driver")
}

// resolveDiscovery picks how siblings are found: MITOSIS_DISCOVERY, or
// for auto what fits the driver.
func resolveDiscovery(ctx context.Context, c config.Config, kind string, d resolved, engine *spawner.Engine) (string, pool.Discovery, error) {
	mode := c.Discovery
	if mode == "auto" && kind == spawner.KindSwarm {
		mode = pool.ModeSwarm
	}
	if mode == "auto" && kind == spawner.KindDocker && c.Peers == "" {
		mode = pool.ModeDocker
	}
	mode, err := pool.ResolveMode(mode, c.Peers != "", c.Service != "")
	if err != nil {
		return "", nil, err
	}
	adminPort := portOf(c.AdminListen)
	switch mode {
	case pool.ModeStatic:
		peers, err := pool.ParsePeers(c.Peers)
		if err != nil {
			return "", nil, errors.New("MITOSIS_PEERS=" + strconv.Quote(c.Peers) + ": " + err.Error())
		}
		disc, err := pool.NewStatic(peers)
		return mode, disc, err
	case pool.ModeDNS:
		service := ownService(ctx, c, d)
		if service == "" {
			return "", nil, errors.New("MITOSIS_DISCOVERY=dns: needs MITOSIS_SERVICE")
		}
		return mode, pool.NewDNS("tasks."+service, adminPort, net.DefaultResolver), nil
	case pool.ModeSwarm:
		disc, err := swarmDiscovery(engine, ownService(ctx, c, d), c.Network, adminPort)
		return mode, disc, err
	case pool.ModeDocker:
		if kind != spawner.KindDocker {
			return "", nil, errors.New("MITOSIS_DISCOVERY=docker: needs MITOSIS_DRIVER=docker (it lists the driver's containers)")
		}
		return mode, d.own, nil
	case pool.ModeProcess:
		if kind == spawner.KindProcess {
			return mode, d.own, nil
		}
	}
	return mode, nil, nil
}

// watchDocker, for the docker driver: the root reconciles its group once
// (adopts its clones, retires a previous root's leftovers); a clone gets a
// channel that closes when its root has been gone for the grace (nil for
// other drivers: it never closes).
func (p *platform) watchDocker(ctx context.Context, every time.Duration, log *slog.Logger) <-chan struct{} {
	if p.docker == nil {
		return nil
	}
	go func() {
		adopted, retired, err := p.docker.Reconcile(ctx)
		switch {
		case err != nil:
			log.Warn("docker driver: reconciling the group failed", "err", err)
		case adopted+retired > 0:
			log.Info("docker driver: group reconciled", "adopted", adopted, "retired_leftovers", retired)
		}
	}()
	return p.docker.WatchRoot(ctx, every)
}

// retireClones, for the docker driver's root, retires its clones in the
// background (they drain alongside the root); the channel closes when
// they are gone or ctx ends. Other drivers: closed at once.
func (p *platform) retireClones(ctx context.Context, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	if p.docker == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		if err := p.docker.RetireClones(ctx); err != nil {
			log.Warn("docker driver: retiring the clones failed", "err", err)
		}
	}()
	return done
}

// ownService is MITOSIS_SERVICE, else what the driver finds out.
func ownService(ctx context.Context, c config.Config, d resolved) string {
	if c.Service != "" || d.service == nil {
		return c.Service
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return d.service(sctx)
}

// watchCanAct re-checks every so often whether this replica reaches a
// manager (or a guard); when it does again, the autoscale loop is poked.
func (p *platform) watchCanAct(ctx context.Context, canAct func(context.Context) bool, every time.Duration, log *slog.Logger) {
	for {
		cctx, cancel := context.WithTimeout(ctx, min(every, 5*time.Second))
		ok := canAct(cctx)
		cancel()
		if p.canScale.Swap(ok) != ok {
			log.Info("platform control", "can_scale", ok)
			if f := p.poke.Load(); ok && f != nil {
				(*f)()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// processConfig gives children this replica's effective configuration as
// environment (flags included), so they run exactly like the parent.
func processConfig(c config.Config, environ []string, appCmd []string, log *slog.Logger) spawner.ProcessConfig {
	pc := spawner.DefaultProcessConfig()
	pc.ParentID = c.ReplicaID
	pc.ParentAdmin = c.AdminListen
	pc.StopTimeout = c.DrainTimeout + 2*time.Second
	pc.Token = hopToken(c)
	pc.Log = log
	pc.Env = append(append([]string{}, environ...),
		c.Environ("MITOSIS_PARENT_PID", "MITOSIS_REPLICA_ID", "MITOSIS_LISTEN", "MITOSIS_ADMIN_LISTEN",
			"MITOSIS_CLUSTER_TOKEN_FILE")...) // the token itself is passed
	if c.TLS.Enabled() {
		// The parent holds the public HTTPS and redirect ports; a child
		// keeps its copy of the tier's TLS state (it may become the
		// leader) on loopback ports of its own. Later entries win.
		pc.Env = append(pc.Env, "MITOSIS_TLS_LISTEN=127.0.0.1:0")
		if c.TLS.RedirectListen != "" {
			pc.Env = append(pc.Env, "MITOSIS_HTTP_REDIRECT=127.0.0.1:0")
		}
	}
	pc.Args = []string{}
	if len(appCmd) > 0 {
		pc.Args = append([]string{"--"}, appCmd...)
	}
	return pc
}
