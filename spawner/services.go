package spawner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// scaler is what changing a service's replica count needs of the engine
// (*Engine).
type scaler interface {
	inspectService(ctx context.Context, id string) (serviceSpec, error)
	updateReplicas(ctx context.Context, s serviceSpec, n int) error
}

// scaleTo is the one path that changes a service's replica count, for the
// swarm driver and the guard alike: inspect the service, let check refuse
// on what was read (nil: no check), refuse a stale version, then send the
// inspected spec back with only the replica count changed. A stale
// version, or Swarm's "update out of sequence", yields a *ConflictError;
// the check's error is returned as is.
func scaleTo(ctx context.Context, api scaler, id string, version uint64, n int, check func(ServiceState) error) error {
	s, err := api.inspectService(ctx, id)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(s.state()); err != nil {
			return err
		}
	}
	if !s.Replicated {
		return fmt.Errorf("service %s is not in replicated mode", s.Name)
	}
	// moby#30794: a read can lag behind an update; sending an older spec
	// back would undo someone else's change.
	if s.Version != version {
		return &ConflictError{Version: version, Err: &staleVersionError{Have: s.Version, Want: version}}
	}
	err = api.updateReplicas(ctx, s, n)
	if isOutOfSequence(err) {
		return &ConflictError{Version: version, Err: err}
	}
	return err
}

// ServiceState is a service as Services reads it.
type ServiceState struct {
	ID      string
	Name    string
	Version uint64
	// Desired is the spec's replica count (0 for a service that is not
	// replicated: see Replicated).
	Desired    int
	Replicated bool
	// Running counts the tasks that run now (filled by Services.State).
	Running int
	// Env is the task template's environment as written in the spec.
	Env    []string
	Labels map[string]string
	// Tasks are the tasks Swarm wants running (filled by Services.State).
	Tasks []ServiceTask
	// Pending, PendingReason, PendingMessage and Placement are as in
	// Status: the tasks the scheduler cannot place, why, and the nodes
	// that take new tasks (filled by Services.State).
	Pending        int
	PendingReason  string
	PendingMessage string
	Placement      string
}

// EnvValue returns the value of key in Env and whether it is set (the
// last entry wins, as in a container's environment).
func (s ServiceState) EnvValue(key string) (string, bool) {
	val, found := "", false
	for _, kv := range s.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			val, found = v, true
		}
	}
	return val, found
}

func (s serviceSpec) state() ServiceState {
	return ServiceState{ID: s.ID, Name: s.Name, Version: s.Version, Desired: s.Replicas, Replicated: s.Replicated,
		Env: slices.Clone(s.Env), Labels: s.Labels}
}

// ServiceTask is one task Swarm wants running, with its addresses.
type ServiceTask struct {
	ID          string
	ServiceID   string
	ServiceName string
	// Name is the task's name as {{.Task.Name}} renders it: what stack.yml
	// sets MITOSIS_REPLICA_ID to.
	Name  string
	Slot  int
	State string
	// Addrs maps each attached network's name to the task's IP on it.
	Addrs map[string]string
}

// servicesAPI is what Services needs of the engine (*Engine).
type servicesAPI interface {
	scaler
	info(ctx context.Context) (engineInfo, error)
	servicesWithLabel(ctx context.Context, label string) ([]serviceInfo, error)
	serviceTasks(ctx context.Context, serviceIDs []string) ([]taskInfo, error)
	placement(ctx context.Context) (string, error)
}

// Services reads and scales Swarm services by id, for the guard, which
// acts for callers it has identified itself: it lists the running tasks
// of services that carry a label (who may call), reads one service with
// its tasks, and scales one service within bounds it checks on the very
// spec it sends back. Safe for concurrent use.
type Services struct {
	api servicesAPI
}

// NewServices returns Services on engine e. It does not contact the
// daemon.
func NewServices(e *Engine) (*Services, error) {
	if e == nil {
		return nil, errors.New("spawner: services need an engine")
	}
	return &Services{api: e}, nil
}

// Labelled returns the tasks Swarm wants running of every service that
// carries label ("key" or "key=value").
func (s *Services) Labelled(ctx context.Context, label string) ([]ServiceTask, error) {
	svcs, err := s.api.servicesWithLabel(ctx, label)
	if err != nil {
		return nil, fmt.Errorf("spawner: services labelled %s: %w", label, err)
	}
	names := make(map[string]string, len(svcs))
	ids := make([]string, 0, len(svcs))
	for _, sv := range svcs {
		names[sv.ID] = sv.Name
		ids = append(ids, sv.ID)
	}
	tasks, err := s.api.serviceTasks(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("spawner: tasks of services labelled %s: %w", label, err)
	}
	out := make([]ServiceTask, 0, len(tasks))
	for _, t := range tasks {
		name, ok := names[t.ServiceID]
		if !ok {
			continue // a task of a service listed after ours
		}
		out = append(out, serviceTask(name, t))
	}
	return out, nil
}

func serviceTask(service string, t taskInfo) ServiceTask {
	name := service + "." + t.NodeID + "." + t.ID // global services have no slot
	if t.Slot != 0 {
		name = service + "." + strconv.Itoa(t.Slot) + "." + t.ID
	}
	return ServiceTask{ID: t.ID, ServiceID: t.ServiceID, ServiceName: service, Name: name, Slot: t.Slot, State: t.State, Addrs: t.Addrs}
}

// State reads service id with its tasks: Running counts those whose
// observed state is running.
func (s *Services) State(ctx context.Context, id string) (ServiceState, error) {
	sp, err := s.api.inspectService(ctx, id)
	if err != nil {
		return ServiceState{}, fmt.Errorf("spawner: service %s: %w", id, err)
	}
	st := sp.state()
	tasks, err := s.api.serviceTasks(ctx, []string{sp.ID})
	if err != nil {
		return ServiceState{}, fmt.Errorf("spawner: tasks of service %s: %w", sp.Name, err)
	}
	for _, t := range tasks {
		switch {
		case t.State == "running":
			st.Running++
		case t.State == "pending" && t.Err != "":
			if st.Pending == 0 {
				st.PendingReason, st.PendingMessage = pendingReason(t.Err, false), t.Err
			}
			st.Pending++
		}
		st.Tasks = append(st.Tasks, serviceTask(sp.Name, t))
	}
	st.Placement, _ = s.api.placement(ctx) // unknown on error: a cap waits for its probe
	slices.SortFunc(st.Tasks, func(a, b ServiceTask) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

// Scale sets the replica count of service id to n at version. check sees
// the service as read for this very update and may refuse (its error is
// returned as is): the bounds it enforces hold for the spec that is sent.
// A stale version yields a *ConflictError. Only the replica count changes.
func (s *Services) Scale(ctx context.Context, id string, version uint64, n int, check func(ServiceState) error) error {
	return scaleTo(ctx, s.api, id, version, n, check)
}

// Manager reports whether the daemon answers the Swarm control API (a
// manager node): only there can services be read and scaled.
func (s *Services) Manager(ctx context.Context) (bool, error) {
	in, err := s.api.info(ctx)
	if err != nil {
		return false, err
	}
	return in.SwarmActive && in.Manager, nil
}
