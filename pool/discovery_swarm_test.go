package pool

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/client"
)

// fakeTasksAPI answers GET /tasks like a Swarm manager (API 1.41).
type fakeTasksAPI struct {
	mu      sync.Mutex
	Tasks   []swarm.Task
	Fail    bool // answer 503 "This node is not a swarm manager"
	Calls   int
	Filters []filters.Args
}

func (f *fakeTasksAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/_ping" {
		w.Header().Set("API-Version", "1.41")
		return
	}
	if r.URL.Path != "/v1.41/tasks" {
		http.Error(w, `{"message":"no route"}`, 404)
		return
	}
	f.Calls++
	args, _ := filters.FromJSON(r.URL.Query().Get("filters"))
	f.Filters = append(f.Filters, args)
	if f.Fail {
		w.WriteHeader(503)
		_, _ = w.Write([]byte(`{"message":"This node is not a swarm manager."}`))
		return
	}
	_ = json.NewEncoder(w).Encode(f.Tasks)
}

func (f *fakeTasksAPI) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Calls
}

type swarmFakeResolver struct {
	mu    sync.Mutex
	Hosts []string
	Err   error
	Names []string
}

func (r *swarmFakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Names = append(r.Names, host)
	return r.Hosts, r.Err
}

func swarmOverlay(id, name string, ingress bool) swarm.Network {
	n := swarm.Network{ID: id}
	n.Spec.Name = name
	n.Spec.Ingress = ingress
	return n
}

func swarmTask(id string, slot int, state swarm.TaskState, atts ...swarm.NetworkAttachment) swarm.Task {
	t := swarm.Task{ID: id, Slot: slot, DesiredState: swarm.TaskStateRunning, NetworksAttachments: atts}
	t.Status.State = state
	return t
}

func swarmAtt(n swarm.Network, addrs ...string) swarm.NetworkAttachment {
	return swarm.NetworkAttachment{Network: n, Addresses: addrs}
}

func newSwarmFake(t *testing.T) (*fakeTasksAPI, *client.Client) {
	t.Helper()
	f := &fakeTasksAPI{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return f, cli
}

func TestSwarmDiscoveryFromTasks(t *testing.T) {
	ingress := swarmOverlay("ing", "ingress", true)
	app := swarmOverlay("net1", "app_mitosis", false)
	back := swarmOverlay("net2", "app_back", false)
	tasks := []swarm.Task{
		swarmTask("t2", 2, swarm.TaskStateRunning, swarmAtt(ingress, "10.0.0.5/24"), swarmAtt(app, "10.0.1.7/24"), swarmAtt(back, "10.0.2.7/24")),
		swarmTask("t1", 1, swarm.TaskStateRunning, swarmAtt(app, "10.0.1.6/24")),
		swarmTask("t3", 3, swarm.TaskStateStarting, swarmAtt(app, "10.0.1.8/24")), // not running yet
		swarmTask("t4", 4, swarm.TaskStateRunning),                                // no address
	}
	tests := []struct {
		name    string
		network string
		want    []Target
	}{
		{"first non-ingress network", "", []Target{
			{AdminAddr: "10.0.1.6:9090", ID: "app_mitosis.1.t1", Source: SourceSwarm},
			{AdminAddr: "10.0.1.7:9090", ID: "app_mitosis.2.t2", Source: SourceSwarm},
		}},
		{"network by stack-less name", "back", []Target{
			{AdminAddr: "10.0.2.7:9090", ID: "app_mitosis.2.t2", Source: SourceSwarm},
		}},
		{"network by id", "net1", []Target{
			{AdminAddr: "10.0.1.6:9090", ID: "app_mitosis.1.t1", Source: SourceSwarm},
			{AdminAddr: "10.0.1.7:9090", ID: "app_mitosis.2.t2", Source: SourceSwarm},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, cli := newSwarmFake(t)
			f.Tasks = tasks
			cfg := DefaultSwarmDiscoveryConfig("app_mitosis")
			cfg.Network = tt.network
			r := &swarmFakeResolver{Err: errors.New("must not be asked")}
			d, err := NewSwarmDiscovery(cfg, cli, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Discover(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Discover = %+v, want %+v", got, tt.want)
			}
			fl := f.Filters[0]
			if !fl.ExactMatch("service", "app_mitosis") || !fl.ExactMatch("desired-state", "running") {
				t.Fatalf("filters = %v", fl)
			}
			if len(r.Names) != 0 {
				t.Fatal("DNS asked while the API answered")
			}
		})
	}
}

func TestSwarmDiscoveryFallsBackToDNS(t *testing.T) {
	f, cli := newSwarmFake(t)
	f.Fail = true
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r := &swarmFakeResolver{Hosts: []string{"10.0.1.9", "10.0.1.8"}}
	cfg := DefaultSwarmDiscoveryConfig("app_mitosis")
	cfg.APIRetry = 30 * time.Second
	d, err := NewSwarmDiscovery(cfg, cli, r, clock)
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{{AdminAddr: "10.0.1.8:9090", Source: SourceDNS}, {AdminAddr: "10.0.1.9:9090", Source: SourceDNS}}
	got, err := d.Discover(context.Background())
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Discover = %+v, %v; want %+v", got, err, want)
	}
	if r.Names[0] != "tasks.app_mitosis" {
		t.Fatalf("resolved %v", r.Names)
	}
	// Within APIRetry: DNS only, the API is not asked again.
	now = now.Add(10 * time.Second)
	if _, err := d.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.calls() != 1 {
		t.Fatalf("API calls = %d, want 1 within the retry delay", f.calls())
	}
	// After APIRetry the API is tried again and wins once it answers.
	now = now.Add(25 * time.Second)
	f.mu.Lock()
	f.Fail = false
	f.Tasks = []swarm.Task{swarmTask("t1", 1, swarm.TaskStateRunning, swarmAtt(swarmOverlay("n", "app_mitosis", false), "10.0.1.6/24"))}
	f.mu.Unlock()
	got, err = d.Discover(context.Background())
	if err != nil || len(got) != 1 || got[0].Source != SourceSwarm {
		t.Fatalf("after recovery Discover = %+v, %v", got, err)
	}
	// Both down (a frozen daemon also freezes its embedded DNS): an error,
	// so that the pool keeps its table.
	f.mu.Lock()
	f.Fail = true
	f.mu.Unlock()
	r.mu.Lock()
	r.Err = &net.DNSError{Err: "timeout", Name: "tasks.app_mitosis", IsTimeout: true}
	r.mu.Unlock()
	if got, err := d.Discover(context.Background()); err == nil {
		t.Fatalf("both down: Discover = %+v, want an error", got)
	}
}

func TestSwarmDiscoveryDaemonDownOrHung(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	block := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(block)
	for name, addr := range map[string]string{"dead": dead, "hung": hung.Listener.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			cli, err := client.NewClientWithOpts(client.WithHost("tcp://"+addr), client.WithAPIVersionNegotiation())
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			cfg := DefaultSwarmDiscoveryConfig("web")
			cfg.CallTimeout = 100 * time.Millisecond
			d, err := NewSwarmDiscovery(cfg, cli, &swarmFakeResolver{Hosts: []string{"10.0.0.2"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Discover(context.Background())
			if err != nil || len(got) != 1 || got[0].AdminAddr != "10.0.0.2:9090" {
				t.Fatalf("Discover = %+v, %v", got, err)
			}
		})
	}
}

func TestSwarmDiscoveryConfig(t *testing.T) {
	bad := []SwarmDiscoveryConfig{
		{AdminPort: 9090, CallTimeout: time.Second},
		{Service: "s", AdminPort: 0, CallTimeout: time.Second},
		{Service: "s", AdminPort: 9090, CallTimeout: 0},
		{Service: "s", AdminPort: 9090, CallTimeout: time.Second, APIRetry: -1},
	}
	for _, c := range bad {
		if _, err := NewSwarmDiscovery(c, nil, nil, nil); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	d, err := NewSwarmDiscovery(DefaultSwarmDiscoveryConfig("s"), nil, &swarmFakeResolver{Hosts: []string{"10.0.0.3"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Discover(context.Background()); err != nil || len(got) != 1 {
		t.Fatalf("DNS-only Discover = %+v, %v", got, err)
	}
}
