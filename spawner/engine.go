package spawner

// engine.go is the only file of the package that imports the Docker SDK: a
// thin adapter that turns SDK calls into the package's own small types, so an
// SDK change touches this file alone. Policy (ownership checks, conflict
// mapping, which clone to retire) lives in swarm.go, docker.go and task.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// EngineConfig says how to reach the Docker daemon.
type EngineConfig struct {
	// Host is the daemon address in DOCKER_HOST syntax
	// ("unix:///var/run/docker.sock", "tcp://manager:2375"). Empty means
	// DOCKER_HOST from the environment, else the default socket.
	Host string
	// CallTimeout bounds every API call (default 5s). A frozen daemon (or
	// its socket) must not wedge the autoscale loop: the call fails, the
	// caller logs and tries again next tick.
	CallTimeout time.Duration
	// SelfID is the own container's id or name. Empty means the hostname,
	// which Docker sets to the short container id.
	SelfID string
	// HTTPClient replaces the SDK's HTTP client (tests). Nil keeps the
	// SDK's default for the host's scheme.
	HTTPClient *http.Client
}

// DefaultEngineConfig returns the defaults: DOCKER_HOST or the default
// socket, 5s per call, the hostname as own container id.
func DefaultEngineConfig() EngineConfig {
	return EngineConfig{CallTimeout: 5 * time.Second}
}

// Validate reports settings out of range.
func (c EngineConfig) Validate() error {
	if c.CallTimeout < 100*time.Millisecond || c.CallTimeout > 5*time.Minute {
		return fmt.Errorf("spawner: engine call timeout = %s, must be in [100ms; 5m] range", c.CallTimeout)
	}
	return nil
}

// Engine is a Docker Engine API client with a timeout on every call. It is
// safe for concurrent use. The SDK client dials per request, so an Engine
// built while the daemon is down starts working once it is back; API
// version negotiation is retried until one ping succeeds (SDK v28:
// checkVersion marks the version negotiated only after a successful ping).
type Engine struct {
	cli     *client.Client
	timeout time.Duration
	selfID  string
}

// NewEngine builds an Engine. It does not contact the daemon.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, client.WithHTTPClient(cfg.HTTPClient))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("spawner: docker client: %w", err)
	}
	self := cfg.SelfID
	if self == "" {
		self, _ = os.Hostname()
	}
	return &Engine{cli: cli, timeout: cfg.CallTimeout, selfID: self}, nil
}

// Client returns the SDK client, for pool.NewSwarmDiscovery (which takes
// anything with a TaskList method) so one process keeps one client.
func (e *Engine) Client() *client.Client { return e.cli }

// SelfID returns the own container id or name the engine looks up.
func (e *Engine) SelfID() string { return e.selfID }

// Close releases idle connections.
func (e *Engine) Close() error { return e.cli.Close() }

func (e *Engine) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.timeout)
}

// errNotFound marks a container or service that does not exist.
var errNotFound = errors.New("not found")

func wrapNotFound(err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %w", errNotFound, err)
	}
	return err
}

// engineInfo is the part of GET /info the drivers need.
type engineInfo struct {
	SwarmActive bool
	// Manager is true when this node answers the Swarm control API.
	Manager bool
	NodeID  string
}

func (e *Engine) ping(ctx context.Context) error {
	ctx, cancel := e.call(ctx)
	defer cancel()
	_, err := e.cli.Ping(ctx)
	return err
}

func (e *Engine) info(ctx context.Context) (engineInfo, error) {
	ctx, cancel := e.call(ctx)
	defer cancel()
	in, err := e.cli.Info(ctx)
	if err != nil {
		return engineInfo{}, err
	}
	return engineInfo{
		SwarmActive: in.Swarm.LocalNodeState == swarm.LocalNodeStateActive,
		Manager:     in.Swarm.ControlAvailable,
		NodeID:      in.Swarm.NodeID,
	}, nil
}

// containerInfo is what the drivers need of a container.
type containerInfo struct {
	ID      string
	Name    string
	Image   string
	Labels  map[string]string
	State   string // created, running, exited, ...
	Created time.Time
	IPs     map[string]string // IPv4 address by network name
}

// endpointIPs maps each network with an address to that address.
func endpointIPs(nets map[string]*network.EndpointSettings) map[string]string {
	out := make(map[string]string, len(nets))
	for name, ep := range nets {
		if ep != nil && ep.IPAddress != "" {
			out[name] = ep.IPAddress
		}
	}
	return out
}

func (e *Engine) inspectContainer(ctx context.Context, id string) (containerInfo, error) {
	ctx, cancel := e.call(ctx)
	defer cancel()
	c, err := e.cli.ContainerInspect(ctx, id)
	if err != nil {
		return containerInfo{}, wrapNotFound(err)
	}
	ci := containerInfo{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/")}
	if c.Config != nil {
		ci.Image, ci.Labels = c.Config.Image, c.Config.Labels
	}
	if c.State != nil {
		ci.State = string(c.State.Status)
	}
	ci.Created, _ = time.Parse(time.RFC3339Nano, c.Created)
	if c.NetworkSettings != nil {
		ci.IPs = endpointIPs(c.NetworkSettings.Networks)
	}
	return ci, nil
}

// listContainers lists containers (stopped ones too) carrying all labels.
func (e *Engine) listContainers(ctx context.Context, labels map[string]string) ([]containerInfo, error) {
	ctx, cancel := e.call(ctx)
	defer cancel()
	f := filters.NewArgs()
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	list, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, err
	}
	out := make([]containerInfo, 0, len(list))
	for _, c := range list {
		ci := containerInfo{ID: c.ID, Image: c.Image, Labels: c.Labels, State: string(c.State), Created: time.Unix(c.Created, 0)}
		if len(c.Names) > 0 {
			ci.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		if c.NetworkSettings != nil {
			ci.IPs = endpointIPs(c.NetworkSettings.Networks)
		}
		out = append(out, ci)
	}
	return out, nil
}

// cloneContainer creates (does not start) a copy of the container src:
// same image, env (plus env, which replaces variables of the same name),
// command, user, healthcheck, labels (plus extra), mounts and networks.
// Not copied: the hostname (each clone gets its own, which is how it finds
// itself), MITOSIS_REPLICA_ID (so the clone is named by that hostname),
// published host ports (they would collide) and container-specific network
// aliases. Clones are auto-removed once stopped so that a clone retired by
// a Scale that it ran itself still goes away.
func (e *Engine) cloneContainer(ctx context.Context, src string, extra map[string]string, env []string) (string, error) {
	ctx, cancel := e.call(ctx)
	defer cancel()
	p, err := e.cli.ContainerInspect(ctx, src)
	if err != nil {
		return "", fmt.Errorf("inspect %s: %w", src, wrapNotFound(err))
	}
	if p.Config == nil || p.HostConfig == nil {
		return "", fmt.Errorf("inspect %s: no config in answer", src)
	}
	cfg := *p.Config
	cfg.Hostname = ""
	// A replica id set on the original would name every clone alike; a
	// clone goes by its own hostname, the default.
	cfg.Env = slices.DeleteFunc(slices.Clone(cfg.Env), func(e string) bool {
		if strings.HasPrefix(e, "MITOSIS_REPLICA_ID=") {
			return true
		}
		name, _, _ := strings.Cut(e, "=")
		return slices.ContainsFunc(env, func(v string) bool { return strings.HasPrefix(v, name+"=") })
	})
	cfg.Env = append(cfg.Env, env...)
	cfg.Labels = make(map[string]string, len(p.Config.Labels)+len(extra))
	for k, v := range p.Config.Labels {
		cfg.Labels[k] = v
	}
	for k, v := range extra {
		cfg.Labels[k] = v
	}
	hc := *p.HostConfig
	hc.PortBindings = nil
	hc.PublishAllPorts = false
	hc.AutoRemove = true
	hc.RestartPolicy = container.RestartPolicy{} // AutoRemove forbids restart policies
	hc.ContainerIDFile = ""
	// A container is created on one network and connected to the others
	// afterwards (API < 1.44 accepts one endpoint at create).
	var nets map[string]*network.EndpointSettings
	if p.NetworkSettings != nil {
		nets = p.NetworkSettings.Networks
	}
	primary := string(hc.NetworkMode)
	if _, ok := nets[primary]; !ok {
		primary = ""
		for name := range nets {
			if primary == "" || name < primary {
				primary = name
			}
		}
		if primary != "" {
			hc.NetworkMode = container.NetworkMode(primary)
		}
	}
	var nc *network.NetworkingConfig
	if primary != "" {
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			primary: {Aliases: sharedAliases(nets[primary], p.ID)},
		}}
	}
	resp, err := e.cli.ContainerCreate(ctx, &cfg, &hc, nc, nil, "")
	if err != nil {
		return "", fmt.Errorf("create clone of %s: %w", src, err)
	}
	for name, ep := range nets {
		if name == primary {
			continue
		}
		if err := e.cli.NetworkConnect(ctx, name, resp.ID, &network.EndpointSettings{Aliases: sharedAliases(ep, p.ID)}); err != nil {
			return resp.ID, fmt.Errorf("connect clone %s to %s: %w", resp.ID, name, err)
		}
	}
	return resp.ID, nil
}

// sharedAliases keeps the network aliases a clone should share with its
// source (a compose service name, say) and drops the source's own id alias.
func sharedAliases(ep *network.EndpointSettings, srcID string) []string {
	if ep == nil {
		return nil
	}
	var out []string
	for _, a := range ep.Aliases {
		if !strings.HasPrefix(srcID, a) {
			out = append(out, a)
		}
	}
	return out
}

func (e *Engine) startContainer(ctx context.Context, id string) error {
	ctx, cancel := e.call(ctx)
	defer cancel()
	return e.cli.ContainerStart(ctx, id, container.StartOptions{})
}

// stopContainer sends SIGTERM and waits up to grace before SIGKILL. The call
// timeout is added on top of grace so that a graceful stop is not cut.
func (e *Engine) stopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, grace+e.timeout)
	defer cancel()
	secs := int((grace + time.Second - 1) / time.Second)
	return wrapNotFound(e.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}))
}

func (e *Engine) removeContainer(ctx context.Context, id string) error {
	ctx, cancel := e.call(ctx)
	defer cancel()
	err := e.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress") {
		return nil // AutoRemove got there first
	}
	return wrapNotFound(err)
}

// serviceInfo is what the swarm driver needs of a service.
type serviceInfo struct {
	ID      string
	Name    string
	Version uint64
	// Replicas is the spec's replica count; Replicated is false for global
	// or job services, which the driver refuses to scale.
	Replicas   int
	Replicated bool
	// Running counts running tasks (REPLICAS left of the slash).
	Running int
	// StopGrace is the tasks' stop_grace_period: how long Swarm waits
	// after SIGTERM before it kills (Docker's default 10 s when unset).
	StopGrace time.Duration
	// Unplaced counts tasks meant to run that the scheduler left pending
	// with an explanation (Status.Err, "no suitable node (...)");
	// UnplacedMsg is the first such explanation. Read only when fewer
	// tasks run than the spec asks for.
	Unplaced    int
	UnplacedMsg string
}

// defaultStopGrace is Docker's stop grace when a spec sets none.
const defaultStopGrace = 10 * time.Second

// service finds a service by exact name (the API's name filter matches
// prefixes) with its running-task count from GET /services?status=true
// (API >= 1.41). Older daemons leave ServiceStatus out; then the tasks are
// counted.
func (e *Engine) service(ctx context.Context, name string) (serviceInfo, error) {
	ctx, cancel := e.call(ctx)
	defer cancel()
	list, err := e.cli.ServiceList(ctx, swarm.ServiceListOptions{
		Filters: filters.NewArgs(filters.Arg("name", name)),
		Status:  true,
	})
	if err != nil {
		return serviceInfo{}, err
	}
	for _, s := range list {
		if s.Spec.Name != name && s.ID != name {
			continue
		}
		si := serviceInfo{ID: s.ID, Name: s.Spec.Name, Version: s.Version.Index, StopGrace: defaultStopGrace}
		if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil && cs.StopGracePeriod != nil {
			si.StopGrace = *cs.StopGracePeriod
		}
		if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
			si.Replicas, si.Replicated = int(*r.Replicas), true
		}
		if s.ServiceStatus != nil {
			si.Running = int(s.ServiceStatus.RunningTasks)
			if si.Running >= si.Replicas {
				return si, nil // all run: none can be pending, spare the task list
			}
		}
		tasks, err := e.cli.TaskList(ctx, swarm.TaskListOptions{Filters: filters.NewArgs(
			filters.Arg("service", s.ID), filters.Arg("desired-state", "running"))})
		if err != nil {
			return serviceInfo{}, err
		}
		running := 0
		for _, t := range tasks {
			switch {
			case t.Status.State == swarm.TaskStateRunning:
				running++
			case t.Status.State == swarm.TaskStatePending && t.Status.Err != "":
				// The scheduler explains a task it cannot place; one it
				// has not looked at yet carries no error.
				if si.Unplaced == 0 {
					si.UnplacedMsg = t.Status.Err
				}
				si.Unplaced++
			}
		}
		if s.ServiceStatus == nil {
			si.Running = running
		}
		return si, nil
	}
	return serviceInfo{}, fmt.Errorf("service %q: %w", name, errNotFound)
}

// placement fingerprints the nodes that can take new tasks: the sorted
// ids of the nodes that are ready and active. Any change (a node joins,
// leaves, goes down, is drained or paused, comes back) changes it.
func (e *Engine) placement(ctx context.Context) (string, error) {
	ctx, cancel := e.call(ctx)
	defer cancel()
	nodes, err := e.cli.NodeList(ctx, swarm.NodeListOptions{})
	if err != nil {
		return "", err
	}
	var ids []string
	for _, n := range nodes {
		if n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive {
			ids = append(ids, n.ID)
		}
	}
	slices.Sort(ids)
	return fmt.Sprintf("%d:%s", len(ids), strings.Join(ids, ",")), nil
}

// staleVersionError reports that the service changed since the caller
// read it; nothing was sent.
type staleVersionError struct{ Have, Want uint64 }

func (e *staleVersionError) Error() string {
	return fmt.Sprintf("service is at version %d, caller read %d", e.Have, e.Want)
}

// serviceSpec is a service as inspected, kept whole so that an update can
// send it back with only the replica count changed.
type serviceSpec struct {
	ID      string
	Name    string
	Version uint64
	// Replicas is the spec's replica count; Replicated is false for global
	// or job services.
	Replicas   int
	Replicated bool
	// Env is the task template's container environment (KEY=VALUE, as
	// written in the spec: templates are not rendered).
	Env    []string
	Labels map[string]string

	spec swarm.ServiceSpec // as inspected, no defaults inserted
}

// inspectService reads a service by id or name without inserted defaults:
// sending back a spec with defaults filled in makes Swarm roll every task.
func (e *Engine) inspectService(ctx context.Context, id string) (serviceSpec, error) {
	ctx, cancel := e.call(ctx)
	defer cancel()
	s, _, err := e.cli.ServiceInspectWithRaw(ctx, id, swarm.ServiceInspectOptions{InsertDefaults: false})
	if err != nil {
		return serviceSpec{}, wrapNotFound(err)
	}
	out := serviceSpec{ID: s.ID, Name: s.Spec.Name, Version: s.Version.Index, Labels: s.Spec.Labels, spec: s.Spec}
	if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		out.Replicas, out.Replicated = int(*r.Replicas), true
	}
	if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
		out.Env = cs.Env
	}
	return out, nil
}

// updateReplicas sends s's spec back at s.Version with only
// Mode.Replicated.Replicas set to n: what `docker service scale` does. The
// spec written is compared with the one read before it is sent
// (replicasOnly), and the image is not re-resolved (QueryRegistry false),
// so nothing but the replica count can change.
func (e *Engine) updateReplicas(ctx context.Context, s serviceSpec, n int) error {
	if s.spec.Mode.Replicated == nil {
		return fmt.Errorf("service %s is not in replicated mode", s.Name)
	}
	spec := s.spec
	r := uint64(n)
	rep := *spec.Mode.Replicated
	rep.Replicas = &r
	spec.Mode.Replicated = &rep
	if err := replicasOnly(s.spec, spec); err != nil {
		return err
	}
	ctx, cancel := e.call(ctx)
	defer cancel()
	_, err := e.cli.ServiceUpdate(ctx, s.ID, swarm.Version{Index: s.Version}, spec, swarm.ServiceUpdateOptions{QueryRegistry: false})
	return err
}

// errSpecChanged marks an update refused because the spec to write
// differed from the one read in more than the replica count.
var errSpecChanged = errors.New("the spec to write differs from the one read in more than the replica count")

// replicasOnly reports whether write equals read but for the replica
// count, comparing their JSON forms (what the daemon receives).
func replicasOnly(read, write swarm.ServiceSpec) error {
	norm := func(s swarm.ServiceSpec) (any, error) {
		b, err := json.Marshal(s)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		if mode, ok := m["Mode"].(map[string]any); ok {
			if rep, ok := mode["Replicated"].(map[string]any); ok {
				delete(rep, "Replicas")
			}
		}
		return m, nil
	}
	a, err := norm(read)
	if err != nil {
		return err
	}
	b, err := norm(write)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(a, b) {
		return errSpecChanged
	}
	return nil
}

// taskInfo is one task of a service with its addresses.
type taskInfo struct {
	ID        string
	ServiceID string
	NodeID    string
	Slot      int
	State     string // the observed state: running, starting, ...
	// Err is the task's error: for a pending task, the scheduler's
	// explanation of why it cannot be placed ("no suitable node (...)").
	Err string
	// Addrs maps each attached network's name to the task's IP on it (the
	// CIDR prefix stripped).
	Addrs map[string]string
}

// servicesWithLabel lists the services carrying label ("key" or
// "key=value").
func (e *Engine) servicesWithLabel(ctx context.Context, label string) ([]serviceInfo, error) {
	ctx, cancel := e.call(ctx)
	defer cancel()
	list, err := e.cli.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return nil, err
	}
	out := make([]serviceInfo, 0, len(list))
	for _, s := range list {
		si := serviceInfo{ID: s.ID, Name: s.Spec.Name, Version: s.Version.Index}
		if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
			si.Replicas, si.Replicated = int(*r.Replicas), true
		}
		out = append(out, si)
	}
	return out, nil
}

// serviceTasks lists the tasks of the given services that Swarm wants
// running (a task shutting down is left out). No ids: no tasks.
func (e *Engine) serviceTasks(ctx context.Context, serviceIDs []string) ([]taskInfo, error) {
	if len(serviceIDs) == 0 {
		return nil, nil
	}
	ctx, cancel := e.call(ctx)
	defer cancel()
	f := filters.NewArgs(filters.Arg("desired-state", "running"))
	for _, id := range serviceIDs {
		f.Add("service", id)
	}
	list, err := e.cli.TaskList(ctx, swarm.TaskListOptions{Filters: f})
	if err != nil {
		return nil, err
	}
	out := make([]taskInfo, 0, len(list))
	for _, t := range list {
		ti := taskInfo{ID: t.ID, ServiceID: t.ServiceID, NodeID: t.NodeID, Slot: t.Slot, State: string(t.Status.State),
			Err: t.Status.Err, Addrs: make(map[string]string, len(t.NetworksAttachments))}
		for _, na := range t.NetworksAttachments {
			for _, a := range na.Addresses {
				if ip, _, _ := strings.Cut(a, "/"); ip != "" {
					ti.Addrs[na.Network.Spec.Name] = ip
					break
				}
			}
		}
		out = append(out, ti)
	}
	return out, nil
}

// taskContainer is the create request of a one-shot task container.
type taskContainer struct {
	Image   string
	Args    []string
	Env     []string
	Network string // "" or "none": no network (checked by CheckNetwork)
	Labels  map[string]string
	User    string
	// Memory (bytes, swap included), NanoCPUs, Pids and TmpfsBytes are the
	// caps of TaskConfig.
	Memory, NanoCPUs, Pids, TmpfsBytes int64
}

// createTask creates a task container with the forced-safe settings, the
// same for every task whatever the caller asks: not privileged, every
// capability dropped, no-new-privileges, a read-only root with a small
// tmpfs /tmp, no binds, mounts, devices or published ports, private
// namespaces (network: the one named, never the host's), memory (no
// extra swap), CPU and pids caps, a numeric non-root user, no log driver
// (the output is read through the attach), stdin open once for the
// attach.
//
// Unlike other calls, the task calls (create, attach, start) are bounded by
// the caller's context, the run's timeout, not by CallTimeout: under a
// burst a busy daemon takes seconds to create and start containers (an
// overlay attach alone takes over a second), and a run that would finish
// in time must not fail for it.
func (e *Engine) createTask(ctx context.Context, t taskContainer) (string, error) {
	cfg := &container.Config{
		Image: t.Image, Cmd: t.Args, Env: t.Env, Labels: t.Labels, User: t.User,
		AttachStdin: true, AttachStdout: true, AttachStderr: true, OpenStdin: true, StdinOnce: true,
	}
	pids := t.Pids
	hc := &container.HostConfig{
		NetworkMode:    container.NetworkMode("none"),
		Privileged:     false,
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges"},
		ReadonlyRootfs: true,
		IpcMode:        container.IpcMode("private"),
		LogConfig:      container.LogConfig{Type: "none"},
		Resources: container.Resources{
			Memory: t.Memory, MemorySwap: t.Memory, NanoCPUs: t.NanoCPUs, PidsLimit: &pids,
		},
	}
	if t.TmpfsBytes > 0 {
		hc.Tmpfs = map[string]string{"/tmp": fmt.Sprintf("rw,nosuid,nodev,noexec,size=%d", t.TmpfsBytes)}
	}
	var nc *network.NetworkingConfig
	if t.Network != "" && t.Network != "none" {
		hc.NetworkMode = container.NetworkMode(t.Network)
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{t.Network: {}}}
	}
	resp, err := e.cli.ContainerCreate(ctx, cfg, hc, nc, nil, "")
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

// attachTask attaches to stdin, stdout and stderr of a created container.
// ctx bounds the attach itself; the stream then lives until closed.
func (e *Engine) attachTask(ctx context.Context, id string) (taskStream, error) {
	hr, err := e.cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return nil, err
	}
	return &hijacked{hr: hr}, nil
}

// startTask starts a task container, bounded by ctx (see createTask).
func (e *Engine) startTask(ctx context.Context, id string) error {
	return e.cli.ContainerStart(ctx, id, container.StartOptions{})
}

// hijacked is an attach stream: reads come through the SDK's buffered
// reader (it may hold bytes read with the HTTP answer).
type hijacked struct{ hr types.HijackedResponse }

func (h *hijacked) Read(p []byte) (int, error)  { return h.hr.Reader.Read(p) }
func (h *hijacked) Write(p []byte) (int, error) { return h.hr.Conn.Write(p) }
func (h *hijacked) CloseWrite() error           { return h.hr.CloseWrite() }
func (h *hijacked) Close() error                { return h.hr.Conn.Close() }

// demux splits Docker's multiplexed stream of a non-TTY container into
// stdout and stderr; it returns the first write error, or nil at EOF.
func demux(stdout, stderr io.Writer, r io.Reader) error {
	_, err := stdcopy.StdCopy(stdout, stderr, r)
	return err
}

// waitContainer waits (bounded by ctx only: a task may run long) until the
// container is no longer running and returns its exit code.
func (e *Engine) waitContainer(ctx context.Context, id string) (int, error) {
	okc, errc := e.cli.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	select {
	case r := <-okc:
		if r.Error != nil && r.Error.Message != "" {
			return int(r.StatusCode), fmt.Errorf("wait %s: %s", id, r.Error.Message)
		}
		return int(r.StatusCode), nil
	case err := <-errc:
		return -1, err
	}
}

func (e *Engine) killContainer(ctx context.Context, id string) error {
	ctx, cancel := e.call(ctx)
	defer cancel()
	return e.cli.ContainerKill(ctx, id, "KILL")
}
