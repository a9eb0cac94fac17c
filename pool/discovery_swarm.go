package pool

// discovery_swarm.go is the only file of the package that imports the
// Docker SDK.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
)

// SwarmTaskLister is the one method of the Docker SDK client
// (*client.Client) that Swarm discovery needs.
type SwarmTaskLister interface {
	TaskList(ctx context.Context, options swarm.TaskListOptions) ([]swarm.Task, error)
}

// SwarmDiscoveryConfig configures Swarm discovery.
type SwarmDiscoveryConfig struct {
	// Service is the own service's name (MITOSIS_SERVICE). Required.
	Service string
	// AdminPort is the siblings' admin port (default 9090).
	AdminPort int
	// Network picks the address of each task: the name or id of the
	// attached network to use (a stack's network is "<stack>_<name>"; a
	// name without the stack prefix also matches by suffix). Empty means
	// the first attached network that is not the ingress network.
	Network string
	// CallTimeout bounds one Task List call (default 3s). A frozen daemon
	// must not hold the sync loop.
	CallTimeout time.Duration
	// APIRetry is how long to use DNS alone after the API failed (default
	// 30s), so that a worker node (no control API) or a dead daemon costs
	// one failed call per APIRetry, not one per sync.
	APIRetry time.Duration
}

// DefaultSwarmDiscoveryConfig returns the defaults for service.
func DefaultSwarmDiscoveryConfig(service string) SwarmDiscoveryConfig {
	return SwarmDiscoveryConfig{Service: service, AdminPort: 9090, CallTimeout: 3 * time.Second, APIRetry: 30 * time.Second}
}

// Validate reports settings out of range.
func (c SwarmDiscoveryConfig) Validate() error {
	var errs []error
	if c.Service == "" {
		errs = append(errs, errors.New("pool: swarm discovery needs MITOSIS_SERVICE (the service name)"))
	}
	if c.AdminPort < 1 || c.AdminPort > 65535 {
		errs = append(errs, fmt.Errorf("pool: swarm discovery admin port = %d, must be in [1; 65535] range", c.AdminPort))
	}
	if c.CallTimeout < 10*time.Millisecond || c.CallTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("pool: swarm discovery call timeout = %s, must be in [10ms; 1m] range", c.CallTimeout))
	}
	if c.APIRetry < 0 || c.APIRetry > time.Hour {
		errs = append(errs, fmt.Errorf("pool: swarm discovery api retry = %s, must be in [0s; 1h] range", c.APIRetry))
	}
	return errors.Join(errs...)
}

// SwarmDiscovery lists the own service's running tasks through the Engine
// API (a manager's socket) and, when the API does not answer (a worker
// node, a daemon that is down or frozen), falls back to DNS
// tasks.<service> on the overlay network. If both fail, Discover returns
// the error and the pool keeps its table. Safe for concurrent use.
type SwarmDiscovery struct {
	cfg   SwarmDiscoveryConfig
	tasks SwarmTaskLister // nil: DNS only
	dns   Discovery
	now   func() time.Time

	mu        sync.Mutex
	apiFailAt time.Time // last API failure, zero when the API works
}

var _ Discovery = (*SwarmDiscovery)(nil)

// NewSwarmDiscovery returns Swarm discovery. tasks is the SDK client
// (nil: DNS only, e.g. no socket mounted); r resolves tasks.<service>
// (nil: net.DefaultResolver); now is the clock (nil: time.Now).
func NewSwarmDiscovery(cfg SwarmDiscoveryConfig, tasks SwarmTaskLister, r Resolver, now func() time.Time) (*SwarmDiscovery, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &SwarmDiscovery{
		cfg:   cfg,
		tasks: tasks,
		dns:   NewDNS("tasks."+cfg.Service, cfg.AdminPort, r),
		now:   now,
	}, nil
}

// Discover returns one Target per running task, with the task's address
// on the service's network, or the DNS answer when the API fails.
func (d *SwarmDiscovery) Discover(ctx context.Context) ([]Target, error) {
	if d.tasks != nil && d.apiDue() {
		ts, err := d.fromAPI(ctx)
		d.mu.Lock()
		if err == nil {
			d.apiFailAt = time.Time{}
		} else {
			d.apiFailAt = d.now()
		}
		d.mu.Unlock()
		if err == nil {
			return ts, nil
		}
		dts, derr := d.dns.Discover(ctx)
		if derr != nil {
			return nil, fmt.Errorf("swarm discovery: api: %w; fallback: %w", err, derr)
		}
		return dts, nil
	}
	return d.dns.Discover(ctx)
}

func (d *SwarmDiscovery) apiDue() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.apiFailAt.IsZero() || d.now().Sub(d.apiFailAt) >= d.cfg.APIRetry
}

func (d *SwarmDiscovery) fromAPI(ctx context.Context) ([]Target, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	list, err := d.tasks.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(
		filters.Arg("service", d.cfg.Service),
		filters.Arg("desired-state", "running"),
	)})
	if err != nil {
		return nil, fmt.Errorf("list tasks of %s: %w", d.cfg.Service, err)
	}
	port := strconv.Itoa(d.cfg.AdminPort)
	ts := make([]Target, 0, len(list))
	for _, t := range list {
		if t.Status.State != swarm.TaskStateRunning || t.DesiredState != swarm.TaskStateRunning {
			continue
		}
		ip := d.address(t)
		if ip == "" {
			continue
		}
		ts = append(ts, Target{AdminAddr: net.JoinHostPort(ip, port), ID: taskName(d.cfg.Service, t), Source: SourceSwarm})
	}
	slices.SortFunc(ts, func(a, b Target) int { return strings.Compare(a.AdminAddr, b.AdminAddr) })
	return ts, nil
}

// address returns the task's IP on the configured network, the /prefix of
// the CIDR stripped.
func (d *SwarmDiscovery) address(t swarm.Task) string {
	for _, na := range t.NetworksAttachments {
		n := na.Network
		switch {
		case d.cfg.Network == "":
			if n.Spec.Ingress || n.Spec.Name == "ingress" {
				continue
			}
		case n.ID != d.cfg.Network && n.Spec.Name != d.cfg.Network && !strings.HasSuffix(n.Spec.Name, "_"+d.cfg.Network):
			continue
		}
		for _, a := range na.Addresses {
			ip, _, _ := strings.Cut(a, "/")
			if net.ParseIP(ip) != nil {
				return ip
			}
		}
	}
	return ""
}

// taskName is the task's name as Swarm's {{.Task.Name}} template renders
// it for a replicated service: "<service>.<slot>.<task id>". stack.yml
// sets MITOSIS_REPLICA_ID to it, so the id discovery yields is the id the
// replica reports. Global services have no slot: "<service>.<node>.<id>".
func taskName(service string, t swarm.Task) string {
	if t.Slot != 0 {
		return service + "." + strconv.Itoa(t.Slot) + "." + t.ID
	}
	return service + "." + t.NodeID + "." + t.ID
}
