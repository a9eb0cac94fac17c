package guard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// fakePlatform is a hand-written Swarm: services by id, the tasks of the
// labelled ones, and the scale calls applied.
type fakePlatform struct {
	mu sync.Mutex
	// Tasks is what Labelled answers; LabelledErr fails it.
	Tasks       []spawner.ServiceTask
	LabelledErr error
	Labels      []string // labels asked for, one per Labelled call
	Services    map[string]*spawner.ServiceState
	// Applied lists "id=n" per applied scale.
	Applied []string
}

func (f *fakePlatform) Labelled(_ context.Context, label string) ([]spawner.ServiceTask, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Labels = append(f.Labels, label)
	if f.LabelledErr != nil {
		return nil, f.LabelledErr
	}
	return append([]spawner.ServiceTask(nil), f.Tasks...), nil
}

func (f *fakePlatform) State(_ context.Context, id string) (spawner.ServiceState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.Services[id]
	if !ok {
		return spawner.ServiceState{}, fmt.Errorf("service %s: not found", id)
	}
	return *st, nil
}

// Scale keeps spawner.Services.Scale's contract: check on what was read,
// then the version, then only the replica count changes.
func (f *fakePlatform) Scale(_ context.Context, id string, version uint64, n int, check func(spawner.ServiceState) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.Services[id]
	if !ok {
		return fmt.Errorf("service %s: not found", id)
	}
	if err := check(*st); err != nil {
		return err
	}
	if st.Version != version {
		return &spawner.ConflictError{Version: version, Err: errors.New("update out of sequence")}
	}
	st.Desired, st.Version = n, st.Version+1
	f.Applied = append(f.Applied, fmt.Sprintf("%s=%d", id, n))
	return nil
}

func (f *fakePlatform) applied() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.Applied...)
}

func (f *fakePlatform) labelCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Labels)
}

// newFakePlatform: app_web (svc-web, bounds [2; 5], 2 replicas at
// version 7) with tasks at 10.0.1.11 and .12; app_api (svc-api, no
// bounds: the defaults [1; 10]) with a task at 10.0.1.21; app_db
// (svc-db) is not labelled: its task is not in Tasks.
func newFakePlatform() *fakePlatform {
	web := &spawner.ServiceState{ID: "svc-web", Name: "app_web", Version: 7, Desired: 2, Running: 2, Replicated: true,
		Env: []string{"MITOSIS_SERVICE={{.Service.Name}}", "MITOSIS_MIN_REPLICAS=2", "MITOSIS_MAX_REPLICAS=5"},
		Tasks: []spawner.ServiceTask{
			{ID: "t1", Name: "app_web.1.t1", ServiceID: "svc-web", ServiceName: "app_web", Slot: 1, State: "running", Addrs: map[string]string{"app_mitosis": "10.0.1.11"}},
			{ID: "t2", Name: "app_web.2.t2", ServiceID: "svc-web", ServiceName: "app_web", Slot: 2, State: "running", Addrs: map[string]string{"app_mitosis": "10.0.1.12"}},
		}}
	api := &spawner.ServiceState{ID: "svc-api", Name: "app_api", Version: 3, Desired: 1, Running: 1, Replicated: true,
		Tasks: []spawner.ServiceTask{{ID: "a1", Name: "app_api.1.a1", ServiceID: "svc-api", ServiceName: "app_api", Slot: 1, State: "running", Addrs: map[string]string{"app_mitosis": "10.0.1.21"}}}}
	db := &spawner.ServiceState{ID: "svc-db", Name: "app_db", Version: 9, Desired: 1, Replicated: true,
		Env: []string{"MITOSIS_MAX_REPLICAS=50"}}
	f := &fakePlatform{Services: map[string]*spawner.ServiceState{"svc-web": web, "svc-api": api, "svc-db": db}}
	f.Tasks = append(append(f.Tasks, web.Tasks...), api.Tasks...)
	return f
}

// fakeRunner records the specs it ran; Block (if set) holds each run
// until closed; Err fails it.
type fakeRunner struct {
	mu     sync.Mutex
	Specs  []spawner.TaskSpec
	Owners []string
	Block  chan struct{}
	Start  chan struct{} // receives one value per run started, if set
	Err    error
}

func (r *fakeRunner) forCaller(c caller) (runner, error) {
	r.mu.Lock()
	r.Owners = append(r.Owners, c.Service+"/"+c.Task)
	r.mu.Unlock()
	return r, nil
}

func (r *fakeRunner) RunTask(ctx context.Context, spec spawner.TaskSpec) (spawner.TaskResult, error) {
	r.mu.Lock()
	r.Specs = append(r.Specs, spec)
	r.mu.Unlock()
	if r.Start != nil {
		r.Start <- struct{}{}
	}
	if r.Block != nil {
		select {
		case <-r.Block:
		case <-ctx.Done():
			return spawner.TaskResult{}, ctx.Err()
		}
	}
	if r.Err != nil {
		return spawner.TaskResult{}, r.Err
	}
	return spawner.TaskResult{ExitCode: 3, Stdout: append([]byte("hello from "+spec.Image+": "), spec.Stdin...), Stderr: []byte("warn")}, nil
}

func (r *fakeRunner) specs() []spawner.TaskSpec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]spawner.TaskSpec(nil), r.Specs...)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testToken = "0123456789abcdef0123456789abcdef"

func testConfig() Config {
	c := DefaultConfig()
	c.Images = []string{"fn:1", "registry.example/fn@sha256:abc"}
	c.Network = "app_functions"
	c.RunTimeout = time.Minute
	c.Runs = 2
	return c
}

// newTestServer returns a Server over a fake platform and runner, on a
// test clock.
func newTestServer(t *testing.T, cfg Config) (*Server, *fakePlatform, *fakeRunner, *clock) {
	t.Helper()
	p, r, clk := newFakePlatform(), &fakeRunner{}, newClock()
	s, err := NewServer(cfg, []byte(testToken), p, r.forCaller, nil, nil, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	return s, p, r, clk
}
