package replica

import (
	"context"
	"errors"
	"net"
	"strconv"

	"github.com/mitosis-run/mitosis/pool"
	"github.com/mitosis-run/mitosis/spawner"
)

// swarmDiscovery lists the own service's running tasks through the Engine
// API, falling back to DNS tasks.<service> where the API does not answer
// (worker nodes, a daemon that is down).
func swarmDiscovery(e *spawner.Engine, service, network string, adminPort int) (pool.Discovery, error) {
	if service == "" {
		return nil, errors.New("MITOSIS_DISCOVERY=swarm: needs MITOSIS_SERVICE (the stack sets it to {{.Service.Name}})")
	}
	cfg := pool.DefaultSwarmDiscoveryConfig(service)
	cfg.AdminPort = adminPort
	cfg.Network = network
	var tasks pool.SwarmTaskLister
	if e != nil {
		tasks = e.Client()
	}
	return pool.NewSwarmDiscovery(cfg, tasks, net.DefaultResolver, nil)
}

// dockerDiscovery finds the docker driver's replicas (the root container
// and its clones) through the Engine API, at their addresses on a network
// this container shares with them.
func dockerDiscovery(d *spawner.Docker, adminPort int) pool.Discovery {
	return pool.DiscoveryFunc(func(ctx context.Context) ([]pool.Target, error) {
		reps, err := d.Replicas(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]pool.Target, 0, len(reps))
		for _, r := range reps {
			out = append(out, pool.Target{AdminAddr: net.JoinHostPort(r.IP, strconv.Itoa(adminPort)), Source: pool.SourceDocker})
		}
		return out, nil
	})
}

// processDiscovery lists the process driver's children.
func processDiscovery(proc *spawner.Process) pool.Discovery {
	return pool.DiscoveryFunc(func(context.Context) ([]pool.Target, error) {
		var out []pool.Target
		for _, r := range proc.Replicas() {
			out = append(out, pool.Target{AdminAddr: r.AdminAddr, ID: r.ID, Source: pool.SourceProcess})
		}
		return out, nil
	})
}
