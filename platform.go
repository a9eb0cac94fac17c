package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/pool"
	"github.com/mitosis-run/mitosis/spawner"
)

// platform is where replicas come from and how siblings are found: the
// driver (nil when off), the discovery source, and whether this replica
// may act on the platform.
type platform struct {
	kind          string
	why           string
	discoveryMode string
	driver        spawner.Driver // wrapped: limits and a cached status
	discovery     pool.Discovery
	proc          *spawner.Process
	engine        *spawner.Engine
	swarm         *spawner.Swarm
	docker        *spawner.Docker
	canScale      atomic.Bool
	last          atomic.Pointer[statusResult]
	leader        func() bool
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

func (p *platform) doc() *replicasDoc {
	if p.driver == nil {
		return &replicasDoc{Driver: "off"}
	}
	d := &replicasDoc{Driver: p.kind, CanScale: p.canScale.Load()}
	if p.leader != nil {
		d.Leader = p.leader()
	}
	if l := p.last.Load(); l != nil {
		d.Desired, d.Running = l.st.Desired, l.st.Running
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

func newPlatform(ctx context.Context, c config.Config, environ []string, appCmd []string, log *slog.Logger) (*platform, error) {
	p := &platform{kind: c.Driver}
	var err error
	if c.Driver == "auto" || c.Driver == spawner.KindSwarm || c.Driver == spawner.KindDocker {
		if c.Driver != "auto" || dockerReachable(environ) {
			if p.engine, err = spawner.NewEngine(spawner.DefaultEngineConfig()); err != nil {
				return nil, err
			}
		}
	}
	if c.Driver == "auto" {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		p.kind, p.why = spawner.Detect(dctx, p.engine, c.Service)
		cancel()
		log.Info("driver chosen", "driver", p.kind, "why", p.why)
	}

	var drv spawner.Driver
	switch p.kind {
	case "off":
	case spawner.KindProcess:
		p.proc, err = spawner.NewProcess(processConfig(c, environ, appCmd, log))
		if err != nil {
			return nil, err
		}
		drv = p.proc
		p.canScale.Store(true)
	case spawner.KindSwarm:
		cfg := spawner.DefaultSwarmConfig()
		cfg.Service = c.Service
		sw, err := spawner.NewSwarm(p.engine, cfg)
		if err != nil {
			return nil, err
		}
		drv, p.swarm = sw, sw
		go p.watchCanAct(ctx, sw.CanAct, log)
	case spawner.KindDocker:
		cfg := spawner.DefaultDockerConfig()
		cfg.DrainTimeout = c.DrainTimeout + 2*time.Second
		d, err := spawner.NewDocker(p.engine, cfg)
		if err != nil {
			return nil, err
		}
		drv, p.docker = d, d
		p.canScale.Store(true)
	default:
		return nil, errors.New("MITOSIS_DRIVER=" + p.kind + ": unknown driver")
	}
	if drv != nil {
		p.driver = observed{Driver: spawner.WithLimits(drv, c.Autoscale.MinReplicas, c.Autoscale.MaxReplicas), p: p}
	}

	mode := c.Discovery
	if mode == "auto" && p.kind == spawner.KindSwarm {
		mode = pool.ModeSwarm
	}
	if mode == "auto" && p.kind == spawner.KindDocker && c.Peers == "" {
		mode = pool.ModeDocker
	}
	if p.discoveryMode, err = pool.ResolveMode(mode, c.Peers != "", c.Service != ""); err != nil {
		return nil, err
	}
	adminPort := portOf(c.AdminListen)
	switch p.discoveryMode {
	case pool.ModeStatic:
		peers, err := pool.ParsePeers(c.Peers)
		if err != nil {
			return nil, errors.New("MITOSIS_PEERS=" + strconv.Quote(c.Peers) + ": " + err.Error())
		}
		if p.discovery, err = pool.NewStatic(peers); err != nil {
			return nil, err
		}
	case pool.ModeDNS:
		if c.Service == "" {
			return nil, errors.New("MITOSIS_DISCOVERY=dns: needs MITOSIS_SERVICE")
		}
		p.discovery = pool.NewDNS("tasks."+c.Service, adminPort, net.DefaultResolver)
	case pool.ModeSwarm:
		service := c.Service
		if service == "" && p.swarm != nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			service, _ = p.swarm.Service(sctx) // empty on error: reported below
			cancel()
		}
		if p.discovery, err = swarmDiscovery(p.engine, service, c.Network, adminPort); err != nil {
			return nil, err
		}
	case pool.ModeDocker:
		if p.docker == nil {
			return nil, errors.New("MITOSIS_DISCOVERY=docker: needs MITOSIS_DRIVER=docker (it lists the driver's containers)")
		}
		p.discovery = dockerDiscovery(p.docker, adminPort)
	case pool.ModeProcess:
		if p.proc != nil {
			proc := p.proc
			p.discovery = pool.DiscoveryFunc(func(context.Context) ([]pool.Target, error) {
				var out []pool.Target
				for _, r := range proc.Replicas() {
					out = append(out, pool.Target{AdminAddr: r.AdminAddr, ID: r.ID, Source: pool.SourceProcess})
				}
				return out, nil
			})
		}
	}
	return p, nil
}

// watchCanAct re-checks every 10 s whether this replica reaches a manager.
func (p *platform) watchCanAct(ctx context.Context, canAct func(context.Context) bool, log *slog.Logger) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok := canAct(cctx)
		cancel()
		if p.canScale.Swap(ok) != ok {
			log.Info("platform control", "can_scale", ok)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Second):
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
	pc.Log = log
	pc.Env = append(append([]string{}, environ...),
		c.Environ("MITOSIS_PARENT_PID", "MITOSIS_REPLICA_ID", "MITOSIS_LISTEN", "MITOSIS_ADMIN_LISTEN")...)
	pc.Args = []string{}
	if len(appCmd) > 0 {
		pc.Args = append([]string{"--"}, appCmd...)
	}
	return pc
}

func (p *platform) close(ctx context.Context) {
	if p.proc != nil {
		if err := p.proc.Close(ctx); err != nil {
			slog.Default().Warn("stopping child replicas", "err", err)
		}
	}
	if p.engine != nil {
		_ = p.engine.Close()
	}
}
