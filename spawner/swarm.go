package spawner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Labels Swarm puts on the containers of its tasks.
const (
	labelSwarmServiceName = "com.docker.swarm.service.name"
	labelSwarmServiceID   = "com.docker.swarm.service.id"
)

// SwarmConfig configures the swarm driver.
type SwarmConfig struct {
	// Service is the own service's name (MITOSIS_SERVICE, set in the stack
	// as {{.Service.Name}}). Empty means: read it from the own container's
	// label com.docker.swarm.service.name (the container whose id is the
	// hostname). The driver only ever scales this service.
	Service string
	// HardCap refuses Scale above it with ErrOverCap (default 100): a
	// ceiling under the autoscaler's own MAX_REPLICAS, in case of a bug.
	HardCap int
}

// DefaultSwarmConfig returns the defaults: service from the own container,
// hard cap 100.
func DefaultSwarmConfig() SwarmConfig { return SwarmConfig{HardCap: 100} }

// Validate reports settings out of range.
func (c SwarmConfig) Validate() error {
	if c.HardCap < 1 || c.HardCap > 10000 {
		return fmt.Errorf("spawner: swarm hard cap = %d, must be in [1; 10000] range", c.HardCap)
	}
	return nil
}

// swarmAPI is what the swarm driver needs of the engine (*Engine).
type swarmAPI interface {
	info(ctx context.Context) (engineInfo, error)
	inspectContainer(ctx context.Context, id string) (containerInfo, error)
	service(ctx context.Context, name string) (serviceInfo, error)
	scaler
	placement(ctx context.Context) (string, error)
}

// Swarm scales the own Swarm service: Status reads its replicas, running
// tasks and version; Scale sends the inspected spec back with only the
// replica count changed, at the version read, so a concurrent change makes
// it fail with a *ConflictError instead of double-scaling. Safe for
// concurrent use.
type Swarm struct {
	api    swarmAPI
	selfID string
	cfg    SwarmConfig

	mu      sync.Mutex
	service string // own service name once resolved (see Service)
}

var _ Driver = (*Swarm)(nil)

// NewSwarm returns the swarm driver on engine e. It does not contact the
// daemon: the own service is resolved on first use, so a daemon that is
// down at start-up delays scaling, not serving.
func NewSwarm(e *Engine, cfg SwarmConfig) (*Swarm, error) {
	if e == nil {
		return nil, errors.New("spawner: swarm driver needs an engine")
	}
	return newSwarm(e, e.selfID, cfg)
}

func newSwarm(api swarmAPI, selfID string, cfg SwarmConfig) (*Swarm, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Swarm{api: api, selfID: selfID, cfg: cfg}, nil
}

// Service returns the own service name. It inspects the own container once
// (the container whose id is the hostname): its Swarm label names the
// service; a configured name that differs from the label is refused (the
// driver never touches another service). A configured name is accepted
// without a label when there is no own container (run outside Docker with
// DOCKER_HOST pointing at a manager). Daemon errors are not cached.
func (s *Swarm) Service(ctx context.Context) (string, error) {
	s.mu.Lock()
	name := s.service
	s.mu.Unlock()
	if name != "" {
		return name, nil
	}
	want := s.cfg.Service
	var label string
	if s.selfID != "" {
		c, err := s.api.inspectContainer(ctx, s.selfID)
		switch {
		case err == nil:
			label = c.Labels[labelSwarmServiceName]
		case errors.Is(err, errNotFound) && want != "":
		default:
			return "", fmt.Errorf("spawner: swarm: find own service from container %s: %w", s.selfID, err)
		}
	}
	switch {
	case want != "" && label != "" && want != label:
		return "", fmt.Errorf("spawner: swarm: refusing service %q: this replica is a task of %q", want, label)
	case want != "":
		name = want
	case label != "":
		name = label
	default:
		return "", fmt.Errorf("spawner: swarm: container %q has no %s label: not a Swarm task (set MITOSIS_SERVICE)", s.selfID, labelSwarmServiceName)
	}
	s.mu.Lock()
	s.service = name
	s.mu.Unlock()
	return name, nil
}

// Status reads the own service: Desired = spec replicas, Running = running
// tasks, Pending = tasks the scheduler cannot place (with its
// explanation), Placement = the nodes available for new tasks, Version =
// the service's version index. A failure to list the nodes leaves
// Placement empty rather than failing the Status.
func (s *Swarm) Status(ctx context.Context) (Status, error) {
	name, err := s.Service(ctx)
	if err != nil {
		return Status{}, err
	}
	si, err := s.ownService(ctx, name)
	if err != nil {
		return Status{}, err
	}
	st := Status{Desired: si.Replicas, Running: si.Running, Version: si.Version, Pending: si.Unplaced}
	if st.Pending > 0 {
		st.PendingReason, st.PendingMessage = pendingReason(si.UnplacedMsg, false), si.UnplacedMsg
	}
	st.Placement, _ = s.api.placement(ctx)
	return st, nil
}

// StopGrace reads the own service's stop_grace_period, so a replica can
// tell at start-up whether its drain fits before Swarm kills it.
func (s *Swarm) StopGrace(ctx context.Context) (time.Duration, error) {
	name, err := s.Service(ctx)
	if err != nil {
		return 0, err
	}
	si, err := s.ownService(ctx, name)
	if err != nil {
		return 0, err
	}
	return si.StopGrace, nil
}

func (s *Swarm) ownService(ctx context.Context, name string) (serviceInfo, error) {
	si, err := s.api.service(ctx, name)
	if err != nil {
		return serviceInfo{}, fmt.Errorf("spawner: swarm: service %s: %w", name, err)
	}
	if si.Name != name {
		return serviceInfo{}, fmt.Errorf("spawner: swarm: refusing service %q: this replica belongs to %q", si.Name, name)
	}
	if !si.Replicated {
		return serviceInfo{}, fmt.Errorf("spawner: swarm: service %s is not in replicated mode", name)
	}
	return si, nil
}

// Scale sets the own service's replicas to n at version (from Status).
// A stale version, or Swarm's "update out of sequence", yields a
// *ConflictError: someone else (another replica, a rolling update, an
// operator) changed the service; re-read next tick. n above HardCap yields
// ErrOverCap; n < 1 is refused (it would stop the replica that asked).
func (s *Swarm) Scale(ctx context.Context, n int, version uint64) error {
	if n > s.cfg.HardCap {
		return fmt.Errorf("%w: %d > %d", ErrOverCap, n, s.cfg.HardCap)
	}
	if n < 1 {
		return fmt.Errorf("spawner: swarm: refusing to scale to %d replicas (min 1)", n)
	}
	name, err := s.Service(ctx)
	if err != nil {
		return err
	}
	si, err := s.ownService(ctx, name)
	if err != nil {
		return err
	}
	if err := scaleTo(ctx, s.api, si.ID, version, n, nil); err != nil {
		if IsConflict(err) {
			return err
		}
		return fmt.Errorf("spawner: swarm: scale %s to %d: %w", name, n, err)
	}
	return nil
}

// isOutOfSequence recognises Swarm's answers to a stale version: "update
// out of sequence" from the API, and the raft-level "version ... out of
// sequence" / "update out of sequence" carried in an rpc error.
func isOutOfSequence(err error) bool {
	return err != nil && strings.Contains(err.Error(), "out of sequence")
}

// CanAct reports whether this node can scale through its daemon: only a
// manager answers the Swarm control API. A daemon that does not answer
// counts as "cannot".
func (s *Swarm) CanAct(ctx context.Context) bool {
	in, err := s.api.info(ctx)
	return err == nil && in.SwarmActive && in.Manager
}
