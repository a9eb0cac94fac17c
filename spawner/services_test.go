package spawner

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"
)

// servicesFake returns a fake engine with a labelled web service (svc1,
// realServiceSpec plus the label and bounds), an unlabelled db service
// (svc2), and tasks of both.
func servicesFake(t *testing.T) *fakeEngine {
	t.Helper()
	f := newFakeEngine(t)
	var spec map[string]any
	if err := json.Unmarshal([]byte(realServiceSpec), &spec); err != nil {
		t.Fatal(err)
	}
	spec["Labels"].(map[string]any)["mitosis.guard"] = "true"
	cs := spec["TaskTemplate"].(map[string]any)["ContainerSpec"].(map[string]any)
	cs["Env"] = []any{"MITOSIS_SERVICE={{.Service.Name}}", "MITOSIS_MIN_REPLICAS=2", "MITOSIS_MAX_REPLICAS=5"}
	b, _ := json.Marshal(spec)
	f.Services["svc1"] = &fakeService{ID: "svc1", Version: 14, Spec: b, Running: 2}
	f.Services["svc2"] = &fakeService{ID: "svc2", Version: 3, Running: 1,
		Spec: json.RawMessage(`{"Name":"app_db","Mode":{"Replicated":{"Replicas":1}},"TaskTemplate":{"ContainerSpec":{"Image":"db:1"}}}`)}
	task := func(id, svc string, slot int, state swarm.TaskState, ip string) swarm.Task {
		return swarm.Task{ID: id, ServiceID: svc, NodeID: "node1", Slot: slot, DesiredState: swarm.TaskStateRunning,
			Status:              swarm.TaskStatus{State: state},
			NetworksAttachments: []swarm.NetworkAttachment{{Network: swarm.Network{Spec: swarm.NetworkSpec{Annotations: swarm.Annotations{Name: "app_mitosis"}}}, Addresses: []string{ip + "/24"}}}}
	}
	f.Tasks = []swarm.Task{
		task("t2", "svc1", 2, swarm.TaskStateStarting, "10.0.1.12"),
		task("t1", "svc1", 1, swarm.TaskStateRunning, "10.0.1.11"),
		task("d1", "svc2", 1, swarm.TaskStateRunning, "10.0.1.21"),
	}
	shut := task("t0", "svc1", 3, swarm.TaskStateRunning, "10.0.1.10")
	shut.DesiredState = swarm.TaskStateShutdown
	f.Tasks = append(f.Tasks, shut)
	return f
}

func newTestServices(t *testing.T, f *fakeEngine) *Services {
	t.Helper()
	s, err := NewServices(f.engine(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServicesLabelled(t *testing.T) {
	f := servicesFake(t)
	s := newTestServices(t, f)
	got, err := s.Labelled(context.Background(), "mitosis.guard=true")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, x := range got {
		names[x.Name] = x.Addrs["app_mitosis"]
	}
	want := map[string]string{"app_mitosis.2.t2": "10.0.1.12", "app_mitosis.1.t1": "10.0.1.11"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("Labelled = %v, want %v (no task of the unlabelled service, none shutting down)", names, want)
	}
	none, err := s.Labelled(context.Background(), "mitosis.guard=other")
	if err != nil || len(none) != 0 {
		t.Fatalf("Labelled(other value) = %v, %v; want none", none, err)
	}
}

func TestServicesState(t *testing.T) {
	f := servicesFake(t)
	s := newTestServices(t, f)
	st, err := s.State(context.Background(), "svc1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "app_mitosis" || st.Desired != 2 || st.Running != 1 || st.Version != 14 || len(st.Tasks) != 2 {
		t.Fatalf("State = %+v; want app_mitosis desired 2, running 1 (one starting), version 14, 2 tasks", st)
	}
	if v, ok := st.EnvValue("MITOSIS_MAX_REPLICAS"); !ok || v != "5" {
		t.Fatalf("EnvValue(MITOSIS_MAX_REPLICAS) = %q, %v", v, ok)
	}
	if _, ok := st.EnvValue("MITOSIS_NOPE"); ok {
		t.Fatal("EnvValue found an unset key")
	}
}

// State counts the tasks the scheduler cannot place, with its words, and
// reads the placement.
func TestServicesStatePending(t *testing.T) {
	f := servicesFake(t)
	const msg = "no suitable node (scheduling constraints not satisfied on 3 nodes)"
	f.Tasks = append(f.Tasks, swarm.Task{ID: "t9", ServiceID: "svc1", Slot: 9, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStatePending, Err: msg}})
	f.Nodes = []swarm.Node{node("n1", swarm.NodeStateReady, swarm.NodeAvailabilityActive)}
	st, err := newTestServices(t, f).State(context.Background(), "svc1")
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 1 || st.PendingReason != PendingConstraint || st.PendingMessage != msg || st.Placement != "1:n1" {
		t.Fatalf("State = pending %d (%s: %s), placement %q; want 1 constraint, 1:n1", st.Pending, st.PendingReason, st.PendingMessage, st.Placement)
	}
}

func TestServicesScale(t *testing.T) {
	errTooMany := errors.New("too many")
	atMost5 := func(st ServiceState) error {
		if st.Name != "app_mitosis" {
			t.Errorf("check saw %q", st.Name)
		}
		return nil
	}
	tests := []struct {
		name      string
		version   uint64
		n         int
		check     func(ServiceState) error
		updateErr string
		want      func(error) bool
		sent      int
	}{
		{"ok", 14, 4, atMost5, "", func(err error) bool { return err == nil }, 1},
		{"check refuses: nothing sent", 14, 9, func(ServiceState) error { return errTooMany }, "", func(err error) bool { return errors.Is(err, errTooMany) }, 0},
		{"stale version: conflict, nothing sent", 13, 4, nil, "", IsConflict, 0},
		{"out of sequence: conflict", 14, 4, nil, "rpc error: code = Unknown desc = update out of sequence", IsConflict, 1},
		{"other error", 14, 4, nil, "boom", func(err error) bool { return err != nil && !IsConflict(err) }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := servicesFake(t)
			f.UpdateError = tt.updateErr
			s := newTestServices(t, f)
			err := s.Scale(context.Background(), "svc1", tt.version, tt.n, tt.check)
			if !tt.want(err) {
				t.Fatalf("Scale = %v", err)
			}
			if len(f.Updates) != tt.sent {
				t.Fatalf("updates sent = %d, want %d", len(f.Updates), tt.sent)
			}
		})
	}
}

// TestReplicasOnly: any change but the replica count is refused before
// it reaches the daemon.
func TestReplicasOnly(t *testing.T) {
	var read swarm.ServiceSpec
	if err := json.Unmarshal([]byte(realServiceSpec), &read); err != nil {
		t.Fatal(err)
	}
	clone := func() swarm.ServiceSpec {
		var c swarm.ServiceSpec
		b, _ := json.Marshal(read)
		_ = json.Unmarshal(b, &c)
		return c
	}
	changes := map[string]func(*swarm.ServiceSpec){
		"image": func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.Image = "evil:1" },
		"env": func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = append(s.TaskTemplate.ContainerSpec.Env, "X=1")
		},
		"mount": func(s *swarm.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Mounts = append(s.TaskTemplate.ContainerSpec.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/", Target: "/host"})
		},
		"user": func(s *swarm.ServiceSpec) { s.TaskTemplate.ContainerSpec.User = "0" },
		"ports": func(s *swarm.ServiceSpec) {
			s.EndpointSpec.Ports = append(s.EndpointSpec.Ports, swarm.PortConfig{TargetPort: 22, PublishedPort: 22})
		},
		"mode": func(s *swarm.ServiceSpec) { s.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}} },
	}
	for name, change := range changes {
		w := clone()
		change(&w)
		if err := replicasOnly(read, w); !errors.Is(err, errSpecChanged) {
			t.Errorf("%s changed: replicasOnly = %v, want errSpecChanged", name, err)
		}
	}
	w := clone()
	n := uint64(7)
	w.Mode.Replicated.Replicas = &n
	if err := replicasOnly(read, w); err != nil {
		t.Fatalf("only replicas changed: %v", err)
	}
}

func TestServicesManager(t *testing.T) {
	f := servicesFake(t)
	s := newTestServices(t, f)
	if ok, err := s.Manager(context.Background()); !ok || err != nil {
		t.Fatalf("on a manager: %v, %v", ok, err)
	}
	f.mu.Lock()
	f.Info.Swarm.ControlAvailable = false
	f.mu.Unlock()
	if ok, err := s.Manager(context.Background()); ok || err != nil {
		t.Fatalf("on a worker: %v, %v", ok, err)
	}
}
