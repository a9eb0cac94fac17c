package replica

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/spawner"
)

// guardAddress is the guard the swarm driver scales through, "" for the
// Docker socket: MITOSIS_GUARD=off never uses one; host:port always; auto
// uses tasks.guard (the stack's guard service) when no Docker socket is
// mounted (socket false), so an old stack that mounts it keeps scaling
// directly.
func guardAddress(c config.Config, socket bool) string {
	switch {
	case c.Driver != spawner.KindSwarm || c.Guard == "off":
		return ""
	case c.Guard != "auto":
		return c.Guard
	case socket:
		return ""
	}
	return net.JoinHostPort("tasks.guard", strconv.Itoa(spawner.DefaultGuardPort))
}

// guardDriver is the swarm driver through the guard at addr: no Docker
// engine; whether a guard answers is asked every tick, so scaling resumes
// within a tick of one coming back.
func guardDriver(c config.Config, addr string) (resolved, error) {
	g, err := guardClient(c, addr)
	if err != nil {
		return resolved{}, fmt.Errorf("scaling through the guard %s: %w", addr, err)
	}
	service := func(ctx context.Context) string {
		w, _ := g.Whoami(ctx) // empty on error: discovery reports it
		return w.Service
	}
	return resolved{
		driver:  g,
		service: service,
		close:   func(context.Context) error { g.Close(); return nil },
		canAct:  g.CanAct,
		every:   c.Autoscale.Tick,
	}, nil
}

// guardClient is a client of the guard at addr with the shared secret of
// MITOSIS_GUARD_TOKEN_FILE, for this replica's service.
func guardClient(c config.Config, addr string) (*spawner.GuardClient, error) {
	tok, err := spawner.ReadGuardToken("MITOSIS_GUARD_TOKEN_FILE", c.GuardTokenFile)
	if err != nil {
		return nil, err
	}
	cfg := spawner.DefaultGuardClientConfig(addr)
	cfg.Token, cfg.Service = string(tok), c.Service
	return spawner.NewGuardClient(cfg)
}
