package main

import (
	"net"

	"mitosis/pool"
	"mitosis/spawner"
)

// swarmDiscovery lists the own service's tasks (DNS tasks.<service> until
// the Engine API source is wired).
func swarmDiscovery(_ *spawner.Engine, c Config, adminPort int) pool.Discovery {
	return pool.NewDNS("tasks."+c.Service, adminPort, net.DefaultResolver)
}
