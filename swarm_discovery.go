package main

import (
	"errors"
	"net"

	"mitosis/pool"
	"mitosis/spawner"
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
