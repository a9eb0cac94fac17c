package replica

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/internal/admin"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/internal/wait"
	"github.com/mitosis-run/mitosis/pool"
	"github.com/mitosis-run/mitosis/spawner"
)

// testConfig is a replica on loopback ports of its own, with no platform
// driver and a short drain.
func testConfig(id string) config.Config {
	c := config.DefaultConfig()
	c.ReplicaID = id
	c.Listen, c.AdminListen = "127.0.0.1:0", "127.0.0.1:0"
	c.Driver = "off"
	c.DrainDelay, c.DrainTimeout = 50*time.Millisecond, 5*time.Second
	return c
}

// noHurry stands in for the SIGINT watch: tests send no signals.
func noHurry() (<-chan os.Signal, func()) { return nil, func() {} }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// started is a replica a test started, serving in Wait.
type started struct {
	*Replica
	stop   context.CancelFunc // what a SIGTERM does
	done   chan struct{}      // closed when Wait returned
	status int                // Wait's result, once done
}

// exit waits up to 10s for Wait to return and gives its status.
func (s *started) exit(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
		return s.status
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return within 10s")
		return -1
	}
}

// startTest starts a replica and makes sure it is drained at the end.
func startTest(t *testing.T, c config.Config, opts ...Option) *started {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := Start(c, append([]Option{WithLogger(quiet()), WithHurry(noHurry)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &started{Replica: r, stop: stop, done: make(chan struct{})}
	go func() {
		s.status = r.Wait(ctx)
		close(s.done)
	}()
	t.Cleanup(func() {
		stop()
		s.exit(t)
	})
	return s
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	code, body, err := fetch(url)
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

func fetch(url string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func stateDoc(t *testing.T, r *started) admin.Doc {
	t.Helper()
	code, body := getBody(t, "http://"+r.AdminAddr()+"/_mitosis/state")
	if code != http.StatusOK {
		t.Fatalf("state: %d %s", code, body)
	}
	var d admin.Doc
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("state JSON: %v: %s", err, body)
	}
	return d
}

// A replica around a handler it was given: the handler answers on the
// public port behind the balancer, the admin port reports the replica, and
// cancelling Wait's context drains it to exit status 0 with the public
// port closed.
func TestStartServesHandlerAndDrains(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from the app") })
	r := startTest(t, testConfig("h1"), WithHandler(app))

	code, body := getBody(t, "http://"+r.Addr()+"/")
	if code != 200 || body != "hello from the app" {
		t.Fatalf("GET / = %d %q, want the handler's answer", code, body)
	}
	d := stateDoc(t, r)
	if d.ID != "h1" || !d.Ready || d.Draining || d.Replicas == nil || d.Replicas.Driver != "off" {
		t.Fatalf("state = %+v, replicas %+v; want h1, ready, driver off", d.State, d.Replicas)
	}
	if code, _ := getBody(t, "http://"+r.AdminAddr()+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d before the drain, want 200", code)
	}

	r.stop()
	if status := r.exit(t); status != 0 {
		t.Fatalf("Wait = %d after a clean drain, want 0", status)
	}
	if c, err := net.Dial("tcp", r.Addr()); err == nil {
		c.Close()
		t.Fatal("the public port still accepts after the drain")
	}
}

// A request in flight when the drain starts gets its whole answer.
func TestDrainFinishesInflight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	r := startTest(t, testConfig("inflight"), WithHandler(app))
	type reply struct {
		code int
		body string
		err  error
	}
	got := make(chan reply, 1)
	go func() {
		code, body, err := fetch("http://" + r.Addr() + "/")
		got <- reply{code, body, err}
	}()
	<-entered
	r.stop()
	// Readiness fails at once: the drain has begun while the request waits.
	deadline := time.Now().Add(5 * time.Second)
	for code, _ := getBody(t, "http://"+r.AdminAddr()+"/readyz"); code != http.StatusServiceUnavailable; code, _ = getBody(t, "http://"+r.AdminAddr()+"/readyz") {
		if time.Now().After(deadline) {
			t.Fatal("/readyz still 200 5s after the drain began")
		}
	}
	close(release)
	if rp := <-got; rp.err != nil || rp.code != 200 || rp.body != "finished" {
		t.Fatalf("in-flight request = %d %q %v, want 200 finished", rp.code, rp.body, rp.err)
	}
	if status := r.exit(t); status != 0 {
		t.Fatalf("Wait = %d, want 0", status)
	}
}

// A second interrupt during the drain delay ends the drain at once with
// status 1.
func TestHurryEndsDrain(t *testing.T) {
	c := testConfig("hurry")
	c.DrainDelay, c.DrainTimeout = 10*time.Minute, time.Hour
	sig := make(chan os.Signal, 1)
	hurry := func() (<-chan os.Signal, func()) {
		sig <- syscall.SIGINT // the operator presses Ctrl-C again as the drain starts
		return sig, func() {}
	}
	r := startTest(t, c, WithHandler(http.NotFoundHandler()), WithHurry(hurry))
	r.stop()
	if status := r.exit(t); status != 1 {
		t.Fatalf("Wait = %d after a hurry, want 1", status)
	}
}

// fakeDriver is a platform with fixed counts that reports each Status read.
type fakeDriver struct {
	st    spawner.Status
	reads chan struct{}
	mu    sync.Mutex
	scale []int
}

func (f *fakeDriver) Status(context.Context) (spawner.Status, error) {
	select {
	case f.reads <- struct{}{}:
	default:
	}
	return f.st, nil
}

func (f *fakeDriver) Scale(_ context.Context, n int, _ uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scale = append(f.scale, n)
	return nil
}

// With an injected driver the autoscale loop runs against it, this
// replica (alone, ready) leads, and the state document shows what the
// driver last reported and the loop's decisions.
func TestInjectedDriver(t *testing.T) {
	c := testConfig("drv")
	c.Autoscale.Tick = 100 * time.Millisecond // the shortest valid tick
	c.Autoscale.MinReplicas, c.Autoscale.MaxReplicas = 1, 5
	// A new replica leads after it has settled (four sync intervals).
	c.Health.Interval, c.Health.Timeout = 100*time.Millisecond, 50*time.Millisecond
	f := &fakeDriver{st: spawner.Status{Desired: 2, Running: 2, Version: 7}, reads: make(chan struct{}, 1)}
	r := startTest(t, c, WithHandler(http.NotFoundHandler()), WithDriver(f))
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-f.reads:
		case <-deadline:
			t.Fatal("no decision with the driver's counts within 10s")
		}
		d := stateDoc(t, r)
		if len(d.Decisions) == 0 || d.Replicas == nil || !d.Replicas.Leader {
			continue
		}
		if p := d.Replicas; p == nil || p.Driver != "injected" || p.Desired != 2 || p.Running != 2 || !p.Leader || !p.CanScale {
			t.Fatalf("replicas = %+v, want the injected driver's 2/2, leading, can scale", p)
		}
		if d.Decisions[0].Current != 2 {
			t.Fatalf("decision %+v, want current 2 (the driver's count)", d.Decisions[0])
		}
		return
	}
}

// A Start that fails (the admin port is taken) leaves nothing behind: the
// public port it had bound is free again.
func TestStartFailureReleasesPorts(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pub := free.Addr().String()
	free.Close()

	c := testConfig("fail")
	c.Listen, c.AdminListen = pub, taken.Addr().String()
	_, err = Start(c, WithLogger(quiet()), WithHandler(http.NotFoundHandler()))
	if err == nil || !strings.Contains(err.Error(), "MITOSIS_ADMIN_LISTEN") {
		t.Fatalf("Start = %v, want an error naming MITOSIS_ADMIN_LISTEN", err)
	}
	ln, err := net.Listen("tcp", pub)
	if err != nil {
		t.Fatalf("the public port %s is still held after the failed Start: %v", pub, err)
	}
	ln.Close()
}

// An invalid config stops Start before anything starts.
func TestStartValidates(t *testing.T) {
	c := testConfig("bad")
	c.Balancer.MaxInflight = 0
	if _, err := Start(c, WithLogger(quiet())); err == nil || !strings.Contains(err.Error(), "MITOSIS_MAX_INFLIGHT") {
		t.Fatalf("Start = %v, want an error naming MITOSIS_MAX_INFLIGHT", err)
	}
}

// The app is one of: a handler, a command, an upstream; two at once is an
// error before anything starts.
func TestStartRejectsTwoApps(t *testing.T) {
	c := testConfig("two")
	c.Upstream = "http://127.0.0.1:1"
	for name, opt := range map[string]Option{
		"handler and upstream": WithHandler(http.NotFoundHandler()),
		"command and upstream": WithCommand([]string{"/bin/true"}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Start(c, WithLogger(quiet()), opt)
			if err == nil {
				t.Fatal("Start accepted two apps")
			}
			var ne *net.OpError
			if errors.As(err, &ne) {
				t.Fatalf("Start failed on the network, not on the options: %v", err)
			}
		})
	}
}

// A new replica reports that it can act only once its siblings have had
// time to find it, and leads only after as long again: a replacement with
// the smallest id must not act in the tick a sibling that led meanwhile
// still acts (issue 14: the leader lost, no double scaling).
func TestNewReplicaSettlesBeforeLeading(t *testing.T) {
	c := testConfig("settle")
	c.Health.Interval, c.Health.Timeout = 500*time.Millisecond, 100*time.Millisecond
	f := &fakeDriver{st: spawner.Status{Desired: 1, Running: 1, Version: 1}, reads: make(chan struct{}, 1)}
	r := startTest(t, c, WithHandler(http.NotFoundHandler()), WithDriver(f))
	now := r.started
	for _, tt := range []struct {
		after            time.Duration
		reports, leading bool
	}{
		{0, false, false},
		{999 * time.Millisecond, false, false},
		{time.Second, true, false},
		{1999 * time.Millisecond, true, false},
		{2 * time.Second, true, true},
	} {
		at := now.Add(tt.after)
		if got := r.selfState(at).CanScale; got != tt.reports {
			t.Errorf("after %s: state says can_scale=%v, want %v", tt.after, got, tt.reports)
		}
		if got := autoscale.Leader(r.selfCandidateAt(at), nil); got != tt.leading {
			t.Errorf("after %s: leader=%v, want %v", tt.after, got, tt.leading)
		}
	}
}

// A settled replica with the smallest id still waits while a sibling in
// its table reports that it leads, takes over once that sibling's report
// says it stepped back, and reports its own lead in its state (issue 14:
// the leader lost, no double scaling when the sitting leader has not yet
// found the replacement).
func TestLeadWaitsForTheSittingLeader(t *testing.T) {
	c := testConfig("a-settled")
	c.Health.Interval, c.Health.Timeout = 100*time.Millisecond, 50*time.Millisecond
	f := &fakeDriver{st: spawner.Status{Desired: 2, Running: 2, Version: 1}, reads: make(chan struct{}, 1)}
	r := startTest(t, c, WithHandler(http.NotFoundHandler()), WithDriver(f))
	if !wait.Until(5*time.Second, 10*time.Millisecond, r.isLeader) {
		t.Fatal("alone, the replica never led")
	}
	sitting := pool.Member{Key: "10.0.0.9:9090", AdminAddr: "10.0.0.9:9090", ID: "z-sitting",
		State: pool.StateReady, CanScale: true, Leading: true}
	// Discovery (no peers here) drops rows it did not find, every sync
	// interval: each try puts the row back first.
	if !wait.Until(5*time.Second, 10*time.Millisecond, func() bool {
		r.store.Upsert(sitting)
		return !r.isLeader() && !r.selfState(r.now()).Leading
	}) {
		t.Fatal("the replica leads while a sibling reports that it leads")
	}
	sitting.Leading = false
	if !wait.Until(5*time.Second, 10*time.Millisecond, func() bool {
		r.store.Upsert(sitting)
		return r.isLeader() && r.selfState(r.now()).Leading
	}) {
		t.Fatal("the replica does not lead after the sibling stepped back")
	}
}
