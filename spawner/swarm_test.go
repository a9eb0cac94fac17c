package spawner

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"
)

const selfID = "0123456789ab"

// swarmFake returns a fake engine with service app_mitosis (2 replicas,
// version 14, 2 running), a decoy service app_mitosis_db sharing the name
// prefix, and the own container as a task of app_mitosis.
func swarmFake(t *testing.T) *fakeEngine {
	t.Helper()
	f := newFakeEngine(t)
	f.Services["svc1"] = &fakeService{ID: "svc1", Version: 14, Spec: json.RawMessage(realServiceSpec), Running: 2}
	f.Services["svc2"] = &fakeService{ID: "svc2", Version: 3, Running: 1,
		Spec: json.RawMessage(`{"Name":"app_mitosis_db","Mode":{"Replicated":{"Replicas":1}},"TaskTemplate":{"ContainerSpec":{"Image":"db:1"}}}`)}
	f.addContainer(&fakeContainer{ID: selfID + strings.Repeat("0", 52), Name: "app_mitosis.1.abc", State: "running",
		Config: configWithLabels(map[string]string{labelSwarmServiceName: "app_mitosis", labelSwarmServiceID: "svc1"})})
	f.Nodes = []swarm.Node{node("n1", swarm.NodeStateReady, swarm.NodeAvailabilityActive)}
	return f
}

func node(id string, state swarm.NodeState, av swarm.NodeAvailability) swarm.Node {
	return swarm.Node{ID: id, Spec: swarm.NodeSpec{Availability: av}, Status: swarm.NodeStatus{State: state}}
}

func newTestSwarm(t *testing.T, f *fakeEngine, service string) *Swarm {
	t.Helper()
	cfg := DefaultSwarmConfig()
	cfg.Service = service
	cfg.HardCap = 10
	s, err := NewSwarm(f.engine(t, selfID), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSwarmStatus(t *testing.T) {
	for _, service := range []string{"", "app_mitosis"} {
		t.Run("service="+service, func(t *testing.T) {
			f := swarmFake(t)
			s := newTestSwarm(t, f, service)
			got, err := s.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := (Status{Desired: 2, Running: 2, Version: 14, Placement: "1:n1"}); got != want {
				t.Fatalf("Status = %+v, want %+v", got, want)
			}
			if !slicesContain(f.calls(), "GET /services") {
				t.Fatalf("no service list call in %v", f.calls())
			}
		})
	}
}

// TestSwarmStopGrace: the service's stop_grace_period, or Docker's 10 s
// default when the spec sets none.
func TestSwarmStopGrace(t *testing.T) {
	f := swarmFake(t)
	if g, err := newTestSwarm(t, f, "").StopGrace(context.Background()); err != nil || g != 40*time.Second {
		t.Errorf("StopGrace = %s %v, want the spec's 40s", g, err)
	}
	f = swarmFake(t)
	f.Services["svc1"].Spec = json.RawMessage(strings.Replace(realServiceSpec, `"StopGracePeriod":40000000000,`, "", 1))
	if g, err := newTestSwarm(t, f, "").StopGrace(context.Background()); err != nil || g != 10*time.Second {
		t.Errorf("StopGrace without one in the spec = %s %v, want 10s", g, err)
	}
}

func slicesContain(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSwarmScaleSendsInspectedSpecWithOnlyReplicasChanged(t *testing.T) {
	f := swarmFake(t)
	s := newTestSwarm(t, f, "")
	if err := s.Scale(context.Background(), 5, 14); err != nil {
		t.Fatal(err)
	}
	if len(f.Updates) != 1 {
		t.Fatalf("updates = %d, want 1", len(f.Updates))
	}
	u := f.Updates[0]
	if u.Version != "14" {
		t.Errorf("?version = %q, want 14", u.Version)
	}
	var got, want map[string]any
	if err := json.Unmarshal(u.Body, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(realServiceSpec), &want); err != nil {
		t.Fatal(err)
	}
	want["Mode"].(map[string]any)["Replicated"].(map[string]any)["Replicas"] = float64(5)
	if !reflect.DeepEqual(got, want) {
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		t.Fatalf("update body differs from inspected spec:\n got %s\nwant %s", gb, wb)
	}
	st, err := s.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Desired != 5 || st.Version != 15 {
		t.Fatalf("after scale Status = %+v, want desired 5 version 15", st)
	}
	if slicesContain(f.calls(), "GET /distribution/mitosis:1.0/json") {
		t.Fatal("image was re-resolved against a registry")
	}
}

func TestSwarmScaleConflicts(t *testing.T) {
	tests := []struct {
		name        string
		version     uint64
		updateError string
		wantUpdates int
	}{
		{"stale version is not sent", 13, "", 0},
		{"update out of sequence", 14, "update out of sequence", 1},
		{"rpc version out of sequence", 14, "rpc error: code = Unknown desc = version 14 out of sequence", 1},
		{"rpc update out of sequence", 14, "rpc error: code = Unknown desc = update out of sequence", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := swarmFake(t)
			f.UpdateError = tt.updateError
			s := newTestSwarm(t, f, "")
			err := s.Scale(context.Background(), 3, tt.version)
			if !IsConflict(err) {
				t.Fatalf("err = %v, want a ConflictError", err)
			}
			if len(f.Updates) != tt.wantUpdates {
				t.Fatalf("updates sent = %d, want %d", len(f.Updates), tt.wantUpdates)
			}
		})
	}
}

func TestSwarmScaleOtherErrorIsNotConflict(t *testing.T) {
	f := swarmFake(t)
	f.UpdateError = "rpc error: code = InvalidArgument desc = bad spec"
	s := newTestSwarm(t, f, "")
	err := s.Scale(context.Background(), 3, 14)
	if err == nil || IsConflict(err) {
		t.Fatalf("err = %v, want a plain error", err)
	}
}

func TestSwarmRefusesOtherServices(t *testing.T) {
	tests := []struct {
		name    string
		service string
	}{
		{"prefix sibling", "app_mitosis_db"},
		{"unknown", "app_other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := swarmFake(t)
			s := newTestSwarm(t, f, tt.service)
			if _, err := s.Status(context.Background()); err == nil || !strings.Contains(err.Error(), "refusing") {
				t.Fatalf("Status err = %v, want refusal", err)
			}
			if err := s.Scale(context.Background(), 3, 3); err == nil || !strings.Contains(err.Error(), "refusing") {
				t.Fatalf("Scale err = %v, want refusal", err)
			}
			if len(f.Updates) != 0 {
				t.Fatalf("an update was sent to %s", tt.service)
			}
		})
	}
}

func TestSwarmExactNameAmongPrefixMatches(t *testing.T) {
	f := swarmFake(t)
	// Outside a container, a configured name is taken as is.
	delete(f.Containers, selfID+strings.Repeat("0", 52))
	s := newTestSwarm(t, f, "app_mitosis")
	if err := s.Scale(context.Background(), 4, 14); err != nil {
		t.Fatal(err)
	}
	if f.Services["svc2"].Version != 3 || f.Services["svc1"].Version != 15 {
		t.Fatalf("versions svc1=%d svc2=%d, want only svc1 updated", f.Services["svc1"].Version, f.Services["svc2"].Version)
	}
}

func TestSwarmScaleLimits(t *testing.T) {
	f := swarmFake(t)
	s := newTestSwarm(t, f, "")
	if err := s.Scale(context.Background(), 11, 14); !errors.Is(err, ErrOverCap) {
		t.Fatalf("n above cap: err = %v, want ErrOverCap", err)
	}
	if err := s.Scale(context.Background(), 0, 14); err == nil {
		t.Fatal("n = 0 accepted")
	}
	if len(f.Updates) != 0 {
		t.Fatal("an update was sent")
	}
}

func TestSwarmCanAct(t *testing.T) {
	tests := []struct {
		name            string
		active, manager bool
		want            bool
	}{
		{"manager", true, true, true},
		{"worker", true, false, false},
		{"no swarm", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := swarmFake(t)
			f.Info.Swarm.ControlAvailable = tt.manager
			if !tt.active {
				f.Info.Swarm.LocalNodeState = "inactive"
			}
			if got := newTestSwarm(t, f, "").CanAct(context.Background()); got != tt.want {
				t.Fatalf("CanAct = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSwarmDaemonDown(t *testing.T) {
	cfg := DefaultEngineConfig()
	cfg.Host = deadAddr(t)
	cfg.SelfID = selfID
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, service := range []string{"", "app_mitosis"} {
		s, err := NewSwarm(e, SwarmConfig{Service: service, HardCap: 10})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Status(context.Background()); err == nil {
			t.Fatal("Status with the daemon down: no error")
		}
		if err := s.Scale(context.Background(), 2, 1); err == nil || IsConflict(err) {
			t.Fatalf("Scale with the daemon down: err = %v", err)
		}
		if s.CanAct(context.Background()) {
			t.Fatal("CanAct with the daemon down")
		}
	}
}

// A frozen daemon (kill -STOP) accepts connections and never answers: every
// call must give up after the engine's call timeout.
func TestSwarmHungDaemonTimesOut(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	cfg := DefaultEngineConfig()
	cfg.Host = "tcp://" + srv.Listener.Addr().String()
	cfg.SelfID = selfID
	cfg.CallTimeout = 200 * time.Millisecond
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s, _ := NewSwarm(e, SwarmConfig{Service: "app_mitosis", HardCap: 10})
	start := time.Now()
	if _, err := s.Status(context.Background()); err == nil {
		t.Fatal("Status on a hung daemon: no error")
	}
	if s.CanAct(context.Background()) {
		t.Fatal("CanAct on a hung daemon")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("calls on a hung daemon took %s", d)
	}
}

// The SDK negotiates the API version lazily; a failed first ping (daemon
// starting, or down) must not pin a wrong version for good.
func TestEngineRenegotiatesAfterFailedPing(t *testing.T) {
	f := swarmFake(t)
	f.PingFailures = 1
	s := newTestSwarm(t, f, "app_mitosis")
	var err error
	for i := 0; i < 3; i++ {
		if _, err = s.Status(context.Background()); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("Status never recovered: %v", err)
	}
	last := f.Paths[len(f.Paths)-1]
	if !strings.HasPrefix(last, "/v1.41/") {
		t.Fatalf("last request %s, want the negotiated /v1.41/", last)
	}
}

func task(state swarm.TaskState, errMsg string) swarm.Task {
	return swarm.Task{ServiceID: "svc1", DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: state, Err: errMsg}}
}

// A task the scheduler cannot place is pending with an explanation; one it
// has not looked at yet, or one starting, is on its way and not pending.
func TestSwarmStatusPending(t *testing.T) {
	const portMsg = "no suitable node (host-mode port already in use on 1 node)"
	tests := []struct {
		name    string
		running uint64
		tasks   []swarm.Task
		want    Status
	}{
		{"all run: no task list", 2, nil, Status{Desired: 2, Running: 2}},
		{"one port-bound task pending", 1, []swarm.Task{
			task(swarm.TaskStateRunning, ""), task(swarm.TaskStatePending, portMsg),
		}, Status{Desired: 2, Running: 1, Pending: 1, PendingReason: PendingPort, PendingMessage: portMsg}},
		{"not yet scheduled, starting", 0, []swarm.Task{
			task(swarm.TaskStatePending, ""), task(swarm.TaskStateStarting, ""),
		}, Status{Desired: 2, Running: 0}},
		{"resources first", 0, []swarm.Task{
			task(swarm.TaskStatePending, "no suitable node (insufficient resources on 2 nodes; host-mode port already in use on 1 node)"),
			task(swarm.TaskStatePending, "no suitable node (insufficient resources on 2 nodes; host-mode port already in use on 1 node)"),
		}, Status{Desired: 2, Pending: 2, PendingReason: PendingResources,
			PendingMessage: "no suitable node (insufficient resources on 2 nodes; host-mode port already in use on 1 node)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := swarmFake(t)
			f.Services["svc1"].Running, f.Tasks = tt.running, tt.tasks
			got, err := newTestSwarm(t, f, "").Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Version, tt.want.Placement = 14, "1:n1"
			if got != tt.want {
				t.Fatalf("Status = %+v\nwant     %+v", got, tt.want)
			}
			if listed := slicesContain(f.calls(), "GET /tasks"); listed != (tt.tasks != nil) {
				t.Errorf("task list called %t, want %t (calls %v)", listed, tt.tasks != nil, f.calls())
			}
		})
	}
}

// Placement names the nodes that take new tasks; any change to that set
// changes it, other nodes do not count, and a failed node list leaves it
// unknown without failing the Status.
func TestSwarmPlacement(t *testing.T) {
	f := swarmFake(t)
	s := newTestSwarm(t, f, "")
	read := func() string {
		t.Helper()
		st, err := s.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st.Placement
	}
	f.Nodes = []swarm.Node{
		node("n2", swarm.NodeStateReady, swarm.NodeAvailabilityActive),
		node("n1", swarm.NodeStateReady, swarm.NodeAvailabilityActive),
		node("n3", swarm.NodeStateDown, swarm.NodeAvailabilityActive),
		node("n4", swarm.NodeStateReady, swarm.NodeAvailabilityDrain),
	}
	if got := read(); got != "2:n1,n2" {
		t.Fatalf("placement %q, want 2:n1,n2", got)
	}
	f.Nodes[2].Status.State = swarm.NodeStateReady // n3 comes back
	if got := read(); got != "3:n1,n2,n3" {
		t.Fatalf("placement %q, want 3:n1,n2,n3", got)
	}
	f.Nodes[0].Spec.Availability = swarm.NodeAvailabilityPause
	if got := read(); got != "2:n1,n3" {
		t.Fatalf("placement %q, want 2:n1,n3", got)
	}
	f.NodesError = "This node is not a swarm manager."
	if got := read(); got != "" {
		t.Fatalf("placement %q with the node list failing, want empty", got)
	}
}

func TestPendingReason(t *testing.T) {
	tests := []struct {
		msg    string
		engine bool
		want   string
	}{
		{"no suitable node (host-mode port already in use on 1 node)", false, PendingPort},
		{"no suitable node (scheduling constraints not satisfied on 3 nodes)", false, PendingConstraint},
		{"no suitable node (max replicas per node limit exceed)", false, PendingConstraint},
		{"no suitable node (unsupported platform on 2 nodes)", false, PendingConstraint},
		{"no suitable node (insufficient resources on 1 node)", false, PendingResources},
		{"no suitable node (3 nodes not available for new tasks)", false, PendingNode},
		{"no suitable node (no nodes in the cluster)", false, PendingNode},
		// The most frequent explanation comes first.
		{"no suitable node (2 nodes not available for new tasks; host-mode port already in use on 1 node)", false, PendingNode},
		{"no suitable node", false, PendingOther},
		{"Bind for 0.0.0.0:8080 failed: port is already allocated", true, PendingPort},
		{"OCI runtime create failed: cannot allocate memory", true, PendingEngine},
	}
	for _, tt := range tests {
		if got := pendingReason(tt.msg, tt.engine); got != tt.want {
			t.Errorf("pendingReason(%q, %t) = %q, want %q", tt.msg, tt.engine, got, tt.want)
		}
	}
}
