package replica

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/functions"
	"github.com/mitosis-run/mitosis/pool"
	"github.com/mitosis-run/mitosis/spawner"
)

// startFunctions builds the function set when functions are configured
// (MITOSIS_FUNCTIONS, WithFunctions): exec: functions run as local
// programs, image functions as containers through the guard when the
// swarm driver scales through one (the guard decides their settings,
// network and labels, and sweeps them), else on the engine (DOCKER_HOST
// or the default socket), each container labelled with this replica and
// its service. Leftovers of a crashed predecessor are swept in the
// background at start and every minute. No functions: nil.
func (r *Replica) startFunctions(bg context.Context, o options, reg prometheus.Registerer) (*functions.Set, error) {
	c := r.cfg.Functions
	c.Functions = append(append([]functions.Function(nil), c.Functions...), o.functions...)
	if len(c.Functions) == 0 {
		return nil, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	runners := functions.Runners{Exec: &functions.ProcessRunner{
		Env: pathOf(o.environ), MaxOutput: c.MaxOutput, MaxStderr: c.MaxStderr,
	}}
	var tasks *spawner.Tasks // nil through the guard, which sweeps its own
	if slices.ContainsFunc(c.Functions, func(f functions.Function) bool { return f.Kind() == functions.KindImage }) {
		var tasker functions.Tasker
		if addr := guardAddress(r.cfg, dockerReachable(o.environ)); addr != "" {
			g, err := guardClient(r.cfg, addr)
			if err != nil {
				return nil, fmt.Errorf("function containers through the guard %s: %w", addr, err)
			}
			r.closers = append(r.closers, func() error { g.Close(); return nil })
			tasker = g
			r.log.Info("function containers through the guard", "guard", addr)
		} else {
			engine, err := spawner.NewEngine(spawner.DefaultEngineConfig())
			if err != nil {
				return nil, err
			}
			r.closers = append(r.closers, engine.Close)
			tc := c.TaskConfig()
			tc.Owner, tc.Group = r.cfg.ReplicaID, r.cfg.Service
			if tasks, err = spawner.NewTasks(engine, tc); err != nil {
				return nil, err
			}
			tasker = tasks
		}
		runners.Image = &functions.ContainerRunner{Tasks: tasker, Network: c.Network}
	}
	set, err := functions.New(c, runners, reg, r.log)
	if err != nil {
		return nil, err
	}
	if tasks != nil {
		go r.sweep(bg, tasks)
	}
	names := make([]string, 0, len(c.Functions))
	for _, f := range set.Functions() {
		names = append(names, f.String())
	}
	r.log.Info("functions", "functions", strings.Join(names, ", "), "concurrency", c.Concurrency, "timeout", c.Timeout)
	return set, nil
}

// sweepEvery is how often a replica sweeps function containers left
// behind (at start, then periodically): a run whose removal failed even
// after its retries, or the runs of a sibling that died.
const sweepEvery = time.Minute

// sweep removes leftover function containers at start and every
// sweepEvery until bg ends.
func (r *Replica) sweep(bg context.Context, tasks *spawner.Tasks) {
	for {
		ctx, cancel := context.WithTimeout(bg, 30*time.Second)
		n, err := tasks.Sweep(ctx)
		cancel()
		switch {
		case err != nil && bg.Err() == nil:
			r.log.Warn("function containers: sweeping leftovers failed", "err", err)
		case n > 0:
			r.log.Info("function containers: removed leftovers", "count", n)
		}
		select {
		case <-bg.Done():
			return
		case <-time.After(sweepEvery):
		}
	}
}

// pathOf keeps PATH of an environment: the one variable a local function
// program inherits from the replica (its settings, a cluster token, stay
// here).
func pathOf(environ []string) []string {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "PATH=") {
			return []string{kv}
		}
	}
	return nil
}

// Functions returns the replica's function set (MITOSIS_FUNCTIONS and
// WithFunctions), for an embedding program to Call or Start them with
// their limits; nil when none are configured.
func (r *Replica) Functions() *functions.Set { return r.fns }

// Tier is what one replica knows of its tier.
type Tier struct {
	// Replicas counts the ready replicas this one knows of, itself
	// included.
	Replicas int
	// LastScale is the newest decision that changed the replica count
	// (Desired != Current), nil if none is remembered.
	LastScale *autoscale.Decision
}

// Tier reports the tier as this replica sees it.
func (r *Replica) Tier() Tier {
	t := Tier{Replicas: 1}
	for _, m := range r.store.List() {
		if m.State == pool.StateReady {
			t.Replicas++
		}
	}
	if r.loop != nil {
		h := r.loop.History()
		for i := len(h) - 1; i >= 0; i-- {
			if h[i].Desired != h[i].Current {
				d := h[i]
				t.LastScale = &d
				break
			}
		}
	}
	return t
}
