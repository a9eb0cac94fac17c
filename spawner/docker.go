package spawner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Labels the docker driver puts on the clones it creates.
const (
	// LabelParent holds the id of the original (root) container a clone
	// was copied from. Clones made by a clone still name the root.
	LabelParent = "mitosis.parent"
	// LabelGroup holds the group name; clones are found by it.
	LabelGroup = "mitosis.group"
)

// DockerConfig configures the docker driver (a plain engine, no Swarm).
type DockerConfig struct {
	// Group names the set of clones (label mitosis.group). Empty means the
	// own container's mitosis.group label if it is a clone, else the own
	// container's name.
	Group string
	// DrainTimeout is the grace a retired clone gets between SIGTERM and
	// SIGKILL (ContainerStop timeout; default 30s, the same as
	// MITOSIS_DRAIN_TIMEOUT should be).
	DrainTimeout time.Duration
	// HardCap refuses Scale above it with ErrOverCap (default 20).
	HardCap int
	// Env holds KEY=value variables set in every clone's environment,
	// replacing a variable of the same name copied from the root (for
	// example a cluster token this replica generated, so that clones and
	// root trust each other's hops).
	Env []string
	// RootGrace is how long a clone waits, once its root container is not
	// running, before it drains and exits (WatchRoot; default 10s). A root
	// killed and brought back by its restart policy within it keeps its
	// clones; a root that is gone for good leaves none behind for longer
	// than RootGrace plus the clones' drain.
	RootGrace time.Duration
}

// DefaultDockerConfig returns the defaults.
func DefaultDockerConfig() DockerConfig {
	return DockerConfig{DrainTimeout: 30 * time.Second, HardCap: 20, RootGrace: 10 * time.Second}
}

// Validate reports settings out of range.
func (c DockerConfig) Validate() error {
	var errs []error
	if c.DrainTimeout < time.Second || c.DrainTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("spawner: docker drain timeout = %s, must be in [1s; 10m] range", c.DrainTimeout))
	}
	if c.RootGrace < time.Second || c.RootGrace > 10*time.Minute {
		errs = append(errs, fmt.Errorf("spawner: docker root grace = %s, must be in [1s; 10m] range", c.RootGrace))
	}
	if c.HardCap < 1 || c.HardCap > 1000 {
		errs = append(errs, fmt.Errorf("spawner: docker hard cap = %d, must be in [1; 1000] range", c.HardCap))
	}
	return errors.Join(errs...)
}

// dockerAPI is what the docker driver needs of the engine (*Engine).
type dockerAPI interface {
	inspectContainer(ctx context.Context, id string) (containerInfo, error)
	listContainers(ctx context.Context, labels map[string]string) ([]containerInfo, error)
	cloneContainer(ctx context.Context, src string, labels map[string]string, env []string) (string, error)
	startContainer(ctx context.Context, id string) error
	stopContainer(ctx context.Context, id string, grace time.Duration) error
	removeContainer(ctx context.Context, id string) error
}

// Docker runs siblings as clones of the original container on a plain
// engine. The root (the container the user started) always counts as one
// replica and is never removed; clones are created, started, stopped
// gracefully and removed. Version is an in-process counter: Scale(n, v)
// succeeds only if no other Scale of this driver ran since v was read (the
// autoscale loop runs on one replica, so a process-local counter is the
// compare-and-swap that matters). Safe for concurrent use.
type Docker struct {
	api    dockerAPI
	selfID string
	cfg    DockerConfig

	mu      sync.Mutex // serialises Scale, guards version and refused
	version uint64
	// refused is what the last Scale could not start: how many clones
	// short of its n, and the engine's first error. Status reports them as
	// pending until a Scale needs no new clone or starts them all.
	refused struct {
		n   int
		msg string
	}

	retiring atomic.Bool // RetireClones ran: no new clone

	rmu   sync.Mutex // guards the fields below (resolve)
	own   string     // own container id, "" until resolved
	root  string     // root container id, "" until resolved
	group string
	nets  []string // the own container's networks, by name
}

var _ Driver = (*Docker)(nil)

// NewDocker returns the docker driver on engine e. It does not contact the
// daemon; the own container is looked up on first use.
func NewDocker(e *Engine, cfg DockerConfig) (*Docker, error) {
	if e == nil {
		return nil, errors.New("spawner: docker driver needs an engine")
	}
	return newDocker(e, e.selfID, cfg)
}

func newDocker(api dockerAPI, selfID string, cfg DockerConfig) (*Docker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if selfID == "" {
		return nil, errors.New("spawner: docker driver needs the own container id (hostname)")
	}
	return &Docker{api: api, selfID: selfID, cfg: cfg}, nil
}

// resolve finds the root container, the group and the own networks, once.
// Call it before reading them.
func (d *Docker) resolve(ctx context.Context) error {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	if d.root != "" {
		return nil
	}
	self, err := d.api.inspectContainer(ctx, d.selfID)
	if err != nil {
		return fmt.Errorf("spawner: docker: inspect own container %s: %w", d.selfID, err)
	}
	root, group := self.ID, d.cfg.Group
	if p := self.Labels[LabelParent]; p != "" {
		root = p
		if group == "" {
			group = self.Labels[LabelGroup]
		}
	}
	if group == "" {
		group = self.Name
	}
	if group == "" {
		group = self.ID
	}
	d.nets = slices.Sorted(maps.Keys(self.IPs))
	d.own, d.root, d.group = self.ID, root, group
	return nil
}

// clones lists the group's clones, newest first (ties by id, for a stable
// order), the own container last: retiring the replica that runs the
// autoscale loop is left for when there is no other choice.
func (d *Docker) clones(ctx context.Context) ([]containerInfo, error) {
	list, err := d.api.listContainers(ctx, map[string]string{LabelGroup: d.group, LabelParent: d.root})
	if err != nil {
		return nil, fmt.Errorf("spawner: docker: list clones of %s: %w", d.group, err)
	}
	slices.SortFunc(list, func(a, b containerInfo) int {
		if sa, sb := d.isSelf(a), d.isSelf(b); sa != sb {
			if sa {
				return 1
			}
			return -1
		}
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return list, nil
}

func (d *Docker) isSelf(c containerInfo) bool {
	return strings.HasPrefix(c.ID, d.selfID) || c.Name == d.selfID
}

// live reports whether a clone counts towards Desired.
func live(c containerInfo) bool {
	return c.State == "created" || c.State == "running" || c.State == "restarting"
}

// Status counts the root plus its clones: Desired = root + clones created
// or running + those the last Scale could not start, Running = those
// running, Pending = those the engine refused (with its error).
func (d *Docker) Status(ctx context.Context) (Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.resolve(ctx); err != nil {
		return Status{}, err
	}
	return d.status(ctx)
}

func (d *Docker) status(ctx context.Context) (Status, error) {
	st := Status{Desired: 1 + d.refused.n, Version: d.version, Pending: d.refused.n}
	if st.Pending > 0 {
		st.PendingReason, st.PendingMessage = pendingReason(d.refused.msg, true), d.refused.msg
	}
	root, err := d.api.inspectContainer(ctx, d.root)
	switch {
	case err == nil && root.State == "running":
		st.Running++
	case err != nil && !errors.Is(err, errNotFound):
		return Status{}, fmt.Errorf("spawner: docker: inspect root %s: %w", d.root, err)
	}
	cl, err := d.clones(ctx)
	if err != nil {
		return Status{}, err
	}
	for _, c := range cl {
		if live(c) {
			st.Desired++
		}
		if c.State == "running" {
			st.Running++
		}
	}
	return st, nil
}

// Scale creates and starts clones of the root up to n, or retires the
// newest clones down to n (stop with DrainTimeout, then remove). The root
// is never removed, so n < 1 is refused. Exited clones left behind (a
// crash; clones are normally auto-removed) are removed on the way. A
// scale-down takes up to DrainTimeout plus the engine's call timeout (give
// ctx that much); Status waits for a Scale in progress.
func (d *Docker) Scale(ctx context.Context, n int, version uint64) error {
	if n > d.cfg.HardCap {
		return fmt.Errorf("%w: %d > %d", ErrOverCap, n, d.cfg.HardCap)
	}
	if n < 1 {
		return fmt.Errorf("spawner: docker: refusing to scale to %d replicas (the root container stays)", n)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if version != d.version {
		return &ConflictError{Version: version, Err: fmt.Errorf("driver is at version %d", d.version)}
	}
	if err := d.resolve(ctx); err != nil {
		return err
	}
	cl, err := d.clones(ctx)
	if err != nil {
		return err
	}
	var alive []containerInfo
	var errs []error
	for _, c := range cl {
		if live(c) {
			alive = append(alive, c)
		} else if err := d.api.removeContainer(ctx, c.ID); err != nil && !errors.Is(err, errNotFound) {
			errs = append(errs, fmt.Errorf("remove dead clone %s: %w", c.ID, err))
		}
	}
	d.version++ // something may change from here on: stale readers must re-read
	have := 1 + len(alive)
	d.refused.n, d.refused.msg = 0, ""
	for ; have < n; have++ {
		if err := d.spawn(ctx); err != nil {
			// The engine refused (a port, resources, a missing image...):
			// the rest would fail alike. Status shows them as pending. A
			// call that ran out of time is no refusal: next tick tries again.
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				d.refused.n, d.refused.msg = n-have, err.Error()
			}
			errs = append(errs, err)
			break
		}
	}
	// The newest first (clones lists them so), in parallel.
	if have > n {
		errs = append(errs, d.retireAll(ctx, alive[:min(have-n, len(alive))]))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spawner: docker: scale %s to %d: %w", d.group, n, err)
	}
	return nil
}

// spawn creates and starts one clone. Its calls are bounded by the
// engine's own call timeout, not by the caller's deadline: the autoscale
// loop gives a Scale about a tick, and a start cut short by it left a
// created clone to remove and the tier short of replicas on a busy daemon.
func (d *Docker) spawn(ctx context.Context) error {
	if d.retiring.Load() {
		return errRetiring
	}
	ctx = context.WithoutCancel(ctx)
	id, err := d.api.cloneContainer(ctx, d.root, map[string]string{LabelParent: d.root, LabelGroup: d.group}, d.cfg.Env)
	if err != nil {
		if id != "" {
			_ = d.api.removeContainer(context.WithoutCancel(ctx), id)
		}
		return err
	}
	if err := d.api.startContainer(ctx, id); err != nil {
		_ = d.api.removeContainer(context.WithoutCancel(ctx), id)
		return fmt.Errorf("start clone %s: %w", id, err)
	}
	return nil
}

// retire stops a clone gracefully (SIGTERM, DrainTimeout, SIGKILL) and
// removes it. If the clone is this replica, the stop call ends with the
// process; the clone's AutoRemove finishes the job.
func (d *Docker) retire(ctx context.Context, id string) error {
	if err := d.api.stopContainer(ctx, id, d.cfg.DrainTimeout); err != nil && !errors.Is(err, errNotFound) {
		return fmt.Errorf("stop clone %s: %w", id, err)
	}
	if err := d.api.removeContainer(ctx, id); err != nil && !errors.Is(err, errNotFound) {
		return fmt.Errorf("remove clone %s: %w", id, err)
	}
	return nil
}

// Group returns the group name once resolved ("" before the first
// Status or Scale).
func (d *Docker) Group() string {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	return d.group
}

// DockerReplica is a running container of the group, for discovery.
type DockerReplica struct {
	ID string // container id
	IP string // its address on a network it shares with the own container
}

// Replicas lists the root and the clones that are running, each with its
// address on the first network (by name) that the own container is on
// too; a container without one is left out. It does not wait for a Scale
// in progress (a scale-down may take DrainTimeout), so that discovery
// keeps up while replicas come and go.
func (d *Docker) Replicas(ctx context.Context) ([]DockerReplica, error) {
	if err := d.resolve(ctx); err != nil {
		return nil, err
	}
	cl, err := d.clones(ctx)
	if err != nil {
		return nil, err
	}
	root, err := d.api.inspectContainer(ctx, d.root)
	switch {
	case err == nil:
		cl = append(cl, root)
	case !errors.Is(err, errNotFound):
		return nil, fmt.Errorf("spawner: docker: inspect root %s: %w", d.root, err)
	}
	var out []DockerReplica
	for _, c := range cl {
		if c.State != "running" {
			continue
		}
		for _, n := range d.nets {
			if ip := c.IPs[n]; ip != "" {
				out = append(out, DockerReplica{ID: c.ID, IP: ip})
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b DockerReplica) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
