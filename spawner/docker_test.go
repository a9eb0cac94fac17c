package spawner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
)

var rootID = "f00d" + strings.Repeat("0", 60)

// dockerFake holds the root container "web" (on networks appnet and
// backnet, publishing 8080 on the host) and returns the fake.
func dockerFake(t *testing.T) *fakeEngine {
	t.Helper()
	f := newFakeEngine(t)
	f.Info.Swarm.LocalNodeState = "inactive"
	f.addContainer(&fakeContainer{
		ID: rootID, Name: "web", State: "running",
		Config: container.Config{Image: "mitosis:1", Env: []string{"A=1", "MITOSIS_REPLICA_ID=web-1"}, Cmd: []string{"serve"},
			Hostname: rootID[:12], Labels: map[string]string{"app": "web"}},
		Host: container.HostConfig{NetworkMode: "appnet", Binds: []string{"/var/run/docker.sock:/var/run/docker.sock"},
			PortBindings: nat.PortMap{"8080/tcp": {{HostPort: "8080"}}}, RestartPolicy: container.RestartPolicy{Name: "always"}},
		Nets: map[string]*network.EndpointSettings{
			"appnet":  {Aliases: []string{"web", rootID[:12]}, IPAddress: "10.0.1.2"},
			"backnet": {Aliases: []string{rootID[:12]}, IPAddress: "10.0.2.2"},
		},
	})
	return f
}

func newTestDocker(t *testing.T, f *fakeEngine, self string) *Docker {
	t.Helper()
	cfg := DefaultDockerConfig()
	cfg.DrainTimeout = 3 * time.Second
	d, err := NewDocker(f.engine(t, self), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func clone(f *fakeEngine, n int, state string) string {
	id := fmt.Sprintf("c%02d%061d", n, 0)
	f.addContainer(&fakeContainer{ID: id, Name: fmt.Sprintf("clone%d", n), State: state,
		Created: time.Date(2026, 1, 1, 0, n, 0, 0, time.UTC),
		Config:  configWithLabels(map[string]string{LabelParent: rootID, LabelGroup: "web"})})
	return id
}

func TestDockerStatus(t *testing.T) {
	f := dockerFake(t)
	clone(f, 1, "running")
	clone(f, 2, "created")
	clone(f, 3, "exited")
	// Same group name, another root: not ours.
	f.addContainer(&fakeContainer{ID: "other", Name: "x", State: "running",
		Config: configWithLabels(map[string]string{LabelParent: "someoneelse", LabelGroup: "web"})})
	tests := []struct {
		name string
		self string
	}{
		{"from the root", rootID[:12]},
		{"from a clone", fmt.Sprintf("c%02d%061d", 1, 0)[:12]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDocker(t, f, tt.self)
			got, err := d.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := (Status{Desired: 3, Running: 2}); got != want {
				t.Fatalf("Status = %+v, want %+v", got, want)
			}
			if d.Group() != "web" {
				t.Fatalf("group = %q, want web", d.Group())
			}
		})
	}
}

// TestDockerReplicas: discovery sees the running root and clones, each by
// its address on the first network it shares with the own container.
func TestDockerReplicas(t *testing.T) {
	f := dockerFake(t)
	withNets := func(id string, nets map[string]string) {
		c := f.Containers[id]
		c.Nets = map[string]*network.EndpointSettings{}
		for n, ip := range nets {
			c.Nets[n] = &network.EndpointSettings{IPAddress: ip}
		}
	}
	c1 := clone(f, 1, "running")
	withNets(c1, map[string]string{"appnet": "10.0.1.3", "backnet": "10.0.2.3"})
	c2 := clone(f, 2, "created")
	withNets(c2, map[string]string{"appnet": "10.0.1.4"})
	c3 := clone(f, 3, "running")
	withNets(c3, map[string]string{"backnet": "10.0.2.5"})
	c4 := clone(f, 4, "running")
	withNets(c4, map[string]string{"elsewhere": "10.9.0.6"})
	f.addContainer(&fakeContainer{ID: "other", Name: "x", State: "running",
		Config: configWithLabels(map[string]string{LabelParent: "someoneelse", LabelGroup: "web"}),
		Nets:   map[string]*network.EndpointSettings{"appnet": {IPAddress: "10.0.1.9"}}})
	tests := []struct {
		name string
		self string
		want []DockerReplica
	}{
		// The root is on appnet and backnet: appnet first, else backnet.
		{"from the root", rootID[:12], []DockerReplica{{c1, "10.0.1.3"}, {c3, "10.0.2.5"}, {rootID, "10.0.1.2"}}},
		// The first clone is on both as well.
		{"from a clone", c1[:12], []DockerReplica{{c1, "10.0.1.3"}, {c3, "10.0.2.5"}, {rootID, "10.0.1.2"}}},
		// The third only on backnet: the others by their backnet address.
		{"from a clone on one network", c3[:12], []DockerReplica{{c1, "10.0.2.3"}, {c3, "10.0.2.5"}, {rootID, "10.0.2.2"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newTestDocker(t, f, tt.self)
			got, err := d.Replicas(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Replicas = %v\nwant       %v", got, tt.want)
			}
		})
	}
}

func TestDockerScaleUpClonesTheRoot(t *testing.T) {
	f := dockerFake(t)
	// Acting from a clone: clones are still copies of the root.
	self := clone(f, 1, "running")
	d := newTestDocker(t, f, self[:12])
	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Scale(context.Background(), 4, st.Version); err != nil {
		t.Fatal(err)
	}
	var created []*fakeContainer
	for _, c := range f.Containers {
		if c.ID != rootID && c.ID != self {
			created = append(created, c)
		}
	}
	if len(created) != 2 {
		t.Fatalf("created %d clones, want 2", len(created))
	}
	for _, c := range created {
		if c.State != "running" {
			t.Errorf("clone %s state %s, want running", c.ID, c.State)
		}
		// The root's replica id stays its own: a clone is named by its
		// hostname (the default).
		if c.Config.Image != "mitosis:1" || !slices.Equal(c.Config.Env, []string{"A=1"}) || !slices.Equal(c.Config.Cmd, []string{"serve"}) {
			t.Errorf("clone config %+v is not the root's less MITOSIS_REPLICA_ID", c.Config)
		}
		if c.Config.Labels["app"] != "web" || c.Config.Labels[LabelParent] != rootID || c.Config.Labels[LabelGroup] != "web" {
			t.Errorf("clone labels = %v", c.Config.Labels)
		}
		if c.Config.Hostname != "" {
			t.Errorf("clone copied the root's hostname %q", c.Config.Hostname)
		}
		if len(c.Host.PortBindings) != 0 || !c.Host.AutoRemove || c.Host.RestartPolicy.Name != "" {
			t.Errorf("clone host config: ports %v autoremove %v restart %q", c.Host.PortBindings, c.Host.AutoRemove, c.Host.RestartPolicy.Name)
		}
		if !slices.Equal(c.Host.Binds, []string{"/var/run/docker.sock:/var/run/docker.sock"}) {
			t.Errorf("clone binds = %v", c.Host.Binds)
		}
		app, back := c.Nets["appnet"], c.Nets["backnet"]
		if app == nil || back == nil {
			t.Fatalf("clone networks = %v, want appnet and backnet", c.Nets)
		}
		if !slices.Equal(app.Aliases, []string{"web"}) || len(back.Aliases) != 0 {
			t.Errorf("clone aliases appnet=%v backnet=%v, want [web] and none", app.Aliases, back.Aliases)
		}
	}
	st2, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st2.Desired != 4 || st2.Running != 4 || st2.Version == st.Version {
		t.Fatalf("after scale Status = %+v (before %+v)", st2, st)
	}
}

func TestDockerScaleDownRetiresNewestCloneNotSelf(t *testing.T) {
	f := dockerFake(t)
	c1 := clone(f, 1, "running")
	c2 := clone(f, 2, "running")
	c3 := clone(f, 3, "running") // newest, but it is the acting replica
	dead := clone(f, 4, "exited")
	d := newTestDocker(t, f, c3[:12])
	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Desired != 4 {
		t.Fatalf("Desired = %d, want 4", st.Desired)
	}
	if err := d.Scale(context.Background(), 3, st.Version); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{rootID: true, c1: true, c2: false, c3: true, dead: false} {
		if _, ok := f.Containers[id]; ok != want {
			t.Errorf("container %.5s present = %v, want %v", id, ok, want)
		}
	}
	calls := f.calls()
	stop := slices.Index(calls, "POST /containers/"+c2+"/stop")
	del := slices.Index(calls, "DELETE /containers/"+c2)
	if stop < 0 || del < stop {
		t.Fatalf("want stop then delete of %.5s, calls %v", c2, calls)
	}
	if slices.Contains(calls, "POST /containers/"+rootID+"/stop") {
		t.Fatal("the root was stopped")
	}
}

func TestDockerVersionCAS(t *testing.T) {
	f := dockerFake(t)
	d := newTestDocker(t, f, rootID[:12])
	st, _ := d.Status(context.Background())
	if err := d.Scale(context.Background(), 2, st.Version); err != nil {
		t.Fatal(err)
	}
	err := d.Scale(context.Background(), 3, st.Version)
	if !IsConflict(err) {
		t.Fatalf("second Scale with the old version: err = %v, want conflict", err)
	}
	if err := d.Scale(context.Background(), 30, st.Version+1); !errors.Is(err, ErrOverCap) {
		t.Fatalf("above cap: err = %v", err)
	}
	if err := d.Scale(context.Background(), 0, st.Version+1); err == nil {
		t.Fatal("scale to 0 accepted")
	}
}

func TestDockerStartFailureRemovesTheClone(t *testing.T) {
	f := dockerFake(t)
	f.StartError = "port is already allocated"
	d := newTestDocker(t, f, rootID[:12])
	err := d.Scale(context.Background(), 2, 0)
	if err == nil || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("err = %v", err)
	}
	if len(f.Containers) != 1 {
		t.Fatalf("%d containers left, want the root only", len(f.Containers))
	}
}

func TestDockerDaemonDown(t *testing.T) {
	cfg := DefaultEngineConfig()
	cfg.Host = deadAddr(t)
	cfg.SelfID = rootID[:12]
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d, err := NewDocker(e, DefaultDockerConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Status(context.Background()); err == nil {
		t.Fatal("Status with the daemon down: no error")
	}
	if err := d.Scale(context.Background(), 2, 0); err == nil || IsConflict(err) {
		t.Fatalf("Scale with the daemon down: err = %v", err)
	}
}

// TestDockerCloneEnv: the driver's Env reaches every clone, replacing a
// variable of the same name copied from the root.
func TestDockerCloneEnv(t *testing.T) {
	f := dockerFake(t)
	cfg := DefaultDockerConfig()
	cfg.DrainTimeout = 3 * time.Second
	cfg.Env = []string{"MITOSIS_CLUSTER_TOKEN=generated", "A=2"}
	d, err := NewDocker(f.engine(t, rootID[:12]), cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Scale(context.Background(), 2, st.Version); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range f.Containers {
		if c.ID == rootID {
			continue
		}
		n++
		if want := []string{"MITOSIS_CLUSTER_TOKEN=generated", "A=2"}; !slices.Equal(c.Config.Env, want) {
			t.Errorf("clone env %q, want %q", c.Config.Env, want)
		}
	}
	if n != 1 {
		t.Fatalf("%d clones, want 1", n)
	}
}

// Clones the engine refuses are pending in Status, with its words, until a
// Scale needs none or starts them; nothing is retried on its own.
func TestDockerRefusedClonesArePending(t *testing.T) {
	f := dockerFake(t)
	clone(f, 1, "running")
	d := newTestDocker(t, f, rootID[:12])
	f.CreateError = "Conflict: cannot allocate memory"
	if err := d.Scale(context.Background(), 5, 0); err == nil {
		t.Fatal("Scale with create failing: no error")
	}
	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Desired != 5 || st.Running != 2 || st.Pending != 3 || st.PendingReason != PendingEngine ||
		!strings.Contains(st.PendingMessage, "cannot allocate memory") {
		t.Fatalf("Status = %+v, want desired 5, running 2, 3 pending (engine)", st)
	}
	creates := func() int {
		n := 0
		for _, c := range f.calls() {
			if c == "POST /containers/create" {
				n++
			}
		}
		return n
	}
	if n := creates(); n != 1 {
		t.Fatalf("%d creates, want 1: the first refusal stops the step", n)
	}
	// The autoscaler settles on what runs: the refusal is forgotten.
	if err := d.Scale(context.Background(), 2, st.Version); err != nil {
		t.Fatal(err)
	}
	if st, _ = d.Status(context.Background()); st.Desired != 2 || st.Pending != 0 || st.PendingReason != "" {
		t.Fatalf("after scaling to what runs Status = %+v, want 2 and none pending", st)
	}
	// A port refusal is named as such.
	f.CreateError, f.StartError = "", "Bind for 0.0.0.0:8080 failed: port is already allocated"
	_ = d.Scale(context.Background(), 3, st.Version)
	if st, _ = d.Status(context.Background()); st.Pending != 1 || st.PendingReason != PendingPort {
		t.Fatalf("Status = %+v, want 1 pending (port)", st)
	}
	f.StartError = ""
	if err := d.Scale(context.Background(), 3, st.Version); err != nil {
		t.Fatal(err)
	}
	if st, _ = d.Status(context.Background()); st.Desired != 3 || st.Running != 3 || st.Pending != 0 {
		t.Fatalf("once the engine accepts Status = %+v, want 3 running, none pending", st)
	}
}

// A spawn is not cut by the caller's deadline (each engine call has its
// own timeout): a start that outlasts it still brings the clone up.
func TestDockerSpawnOutlivesTheCallerDeadline(t *testing.T) {
	f := dockerFake(t)
	d := newTestDocker(t, f, rootID[:12])
	if _, err := d.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.StartDelay = 300 * time.Millisecond // a busy daemon
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := d.Scale(ctx, 2, 0); err != nil {
		t.Fatalf("Scale past the caller's deadline: %v", err)
	}
	st, err := d.Status(context.Background())
	if err != nil || st.Running != 2 || st.Pending != 0 {
		t.Fatalf("Status = %+v, %v; want the clone running, none pending", st, err)
	}
}
