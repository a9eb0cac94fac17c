package functions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/wait"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeRunner records jobs and counts concurrent runs. With gate set, a
// run waits for a token on release (or its context) before answering.
type fakeRunner struct {
	mu            sync.Mutex
	jobs          []Job
	running, peak int

	started chan Job
	gate    bool
	release chan struct{}
	out     func(Job) (Output, error)
}

func newFakeRunner(gate bool) *fakeRunner {
	return &fakeRunner{started: make(chan Job, 100), gate: gate, release: make(chan struct{}, 100),
		out: func(j Job) (Output, error) { return Output{Stdout: []byte("ok")}, nil }}
}

func (f *fakeRunner) Run(ctx context.Context, job Job) (Output, error) {
	f.mu.Lock()
	f.jobs = append(f.jobs, job)
	f.running++
	f.peak = max(f.peak, f.running)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running--
		f.mu.Unlock()
	}()
	f.started <- job
	if f.gate {
		select {
		case <-f.release:
		case <-ctx.Done():
			return Output{ExitCode: -1}, context.Cause(ctx)
		}
	}
	return f.out(job)
}

func (f *fakeRunner) ran() []Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.jobs)
}

func (f *fakeRunner) maxConcurrent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.peak
}

func newTestSet(t *testing.T, routes string, mut func(*Config), r Runner) (*Set, *prometheus.Registry) {
	t.Helper()
	cfg := DefaultConfig()
	fs, err := ParseRoutes(routes)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Functions = fs
	if mut != nil {
		mut(&cfg)
	}
	reg := prometheus.NewRegistry()
	s, err := New(cfg, Runners{Image: r, Exec: r}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Bounded: a failed test may leave gated runs behind.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s, reg
}

func serveSet(t *testing.T, s *Set) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(s.Handler(http.NotFoundHandler()))
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	code       int
	retryAfter string
	body       string
	err        error
}

func do(client *http.Client, req *http.Request) response {
	resp, err := client.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !wait.Until(10*time.Second, 5*time.Millisecond, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

func (s *Set) queuedOf(name string) int64 { return s.byName[name].lim.queued.Load() }

// TestBurstAboveConcurrency: of 10 concurrent requests to a function with
// 2 slots and 3 queue places, 2 run, 3 queue and then get 503 with
// Retry-After at the queue timeout, 5 get 503 at once; none hangs, and
// never more than 2 run at once.
func TestBurstAboveConcurrency(t *testing.T) {
	fr := newFakeRunner(true)
	s, reg := newTestSet(t, "/fn=fn:1", func(c *Config) { c.Concurrency, c.QueueMax, c.QueueTimeout = 2, 3, 2*time.Second }, fr)
	srv := serveSet(t, s)
	client := &http.Client{Timeout: 20 * time.Second}
	results := make(chan response, 10)
	for i := range 10 {
		go func() {
			req, _ := http.NewRequest("POST", srv.URL+"/fn", strings.NewReader(fmt.Sprint(i)))
			results <- do(client, req)
		}()
	}
	<-fr.started
	<-fr.started
	waitFor(t, "3 queued", func() bool { return s.queuedOf("/fn") == 3 })
	for range 8 {
		r := <-results
		if r.err != nil || r.code != http.StatusServiceUnavailable || r.retryAfter != "1" {
			t.Fatalf("response %+v; want 503 with Retry-After: 1", r)
		}
	}
	fr.release <- struct{}{}
	fr.release <- struct{}{}
	for range 2 {
		if r := <-results; r.code != http.StatusOK || r.body != "ok" {
			t.Fatalf("response %+v; want 200 ok", r)
		}
	}
	if n := len(fr.ran()); n != 2 || fr.maxConcurrent() != 2 {
		t.Fatalf("%d runs, %d at once; want 2 and at most 2", n, fr.maxConcurrent())
	}
	runs := func(o string) float64 {
		return testutil.ToFloat64(s.m.runs.WithLabelValues("/fn", o))
	}
	if runs("shed") != 8 || runs("ok") != 2 {
		t.Errorf("runs: shed %g ok %g; want 8 and 2", runs("shed"), runs("ok"))
	}
	if n, err := testutil.GatherAndCount(reg, "mitosis_function_inflight", "mitosis_function_queued", "mitosis_function_run_duration_seconds"); err != nil || n != 3 {
		t.Errorf("gauges and histogram: %d series, %v", n, err)
	}
}

// TestQueueIsFIFO: with one slot, queued calls run in arrival order once
// slots free up, each waiting without a 503.
func TestQueueIsFIFO(t *testing.T) {
	fr := newFakeRunner(true)
	s, _ := newTestSet(t, "/fn=fn:1", func(c *Config) { c.Concurrency, c.QueueMax, c.QueueTimeout = 1, 5, time.Minute }, fr)
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, err := s.Call(context.Background(), "/fn", Request{Env: []string{fmt.Sprintf("N=%d", i)}})
			errs <- err
		}()
		if i == 0 {
			<-fr.started
		} else {
			waitFor(t, "queued", func() bool { return s.queuedOf("/fn") == int64(i) })
		}
	}
	for range 3 {
		fr.release <- struct{}{}
		<-fr.started
	}
	fr.release <- struct{}{}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var order []string
	for _, j := range fr.ran() {
		order = append(order, j.Env[0])
	}
	if want := []string{"N=0", "N=1", "N=2", "N=3"}; !slices.Equal(order, want) {
		t.Fatalf("run order %v, want %v", order, want)
	}
}

// TestHostileRequests: nothing in a request picks an image, a command,
// arguments or a container option, and refused requests run nothing.
func TestHostileRequests(t *testing.T) {
	fr := newFakeRunner(false)
	tasker := &fakeTasker{}
	cr := &ContainerRunner{Tasks: tasker, Network: "votes"}
	s, _ := newTestSet(t, "/record=voting:1 record", func(c *Config) { c.MaxBody = 1 << 10 }, fr)
	srv := serveSet(t, s)
	client := &http.Client{Timeout: 10 * time.Second}

	// Not a route: the app answers (404 here), nothing runs.
	for _, p := range []string{"/run?image=evil:latest", "/recordx", "/record/../admin", "/voting:1"} {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		if r := do(client, req); r.code != http.StatusNotFound {
			t.Errorf("GET %s: %+v, want the app's 404", p, r)
		}
	}
	// Too much: nothing runs.
	big, _ := http.NewRequest("POST", srv.URL+"/record", strings.NewReader(strings.Repeat("x", 2<<10)))
	if r := do(client, big); r.code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 KiB body: %+v, want 413", r)
	}
	huge, _ := http.NewRequest("GET", srv.URL+"/record", nil)
	for i := range 40 {
		huge.Header.Set(fmt.Sprintf("X-Env-%d", i), strings.Repeat("e", 1<<10))
	}
	if r := do(client, huge); r.code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("40 KiB of headers: %+v, want 431", r)
	}
	// A header name with '=' or '_' never reaches the handler as such: Go's
	// server refuses '=' outright; sent raw to be sure.
	for _, name := range []string{"A=B", "Image=evil:1", "X Y"} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /record HTTP/1.1\r\nHost: x\r\n%s: 1\r\nConnection: close\r\n\r\n", name)
		b, _ := io.ReadAll(conn)
		conn.Close()
		if !strings.HasPrefix(string(b), "HTTP/1.1 400") {
			t.Errorf("header %q: %.30q, want 400", name, b)
		}
	}
	if n := len(fr.ran()); n != 0 {
		t.Fatalf("%d runs after refused requests", n)
	}

	// Option-looking headers are data.
	req, _ := http.NewRequest("POST", srv.URL+"/record/x?image=evil:1", strings.NewReader("vote=a"))
	for k, v := range map[string]string{"Image": "evil:1", "Privileged": "true", "Cap-Add": "ALL", "Volume": "/:/host",
		"Network": "host", "User": "0", "Entrypoint": "/bin/sh", "Cmd": "-c reboot", "Path": "/tmp"} {
		req.Header.Set(k, v)
	}
	if r := do(client, req); r.code != http.StatusOK {
		t.Fatalf("option-looking headers: %+v, want 200", r)
	}
	jobs := fr.ran()
	if len(jobs) != 1 {
		t.Fatalf("%d runs, want 1", len(jobs))
	}
	j := jobs[0]
	if j.Image != "voting:1" || j.Command != "" || !slices.Equal(j.Args, []string{"record"}) || string(j.Stdin) != "vote=a" {
		t.Fatalf("job %+v: the request changed what runs", j)
	}
	for _, kv := range j.Env {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "HTTP_") && strings.ContainsAny(k, "abcdefghijklmnopqrstuvwxyz") {
			t.Errorf("variable %q", k)
		}
		if strings.HasPrefix(kv, "PATH=") {
			t.Error("a header set PATH")
		}
	}
	// Through the container runner, the task is the mapped image on the
	// configured network, whatever the job's environment says.
	if _, err := cr.Run(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	spec := tasker.specs[0]
	if spec.Image != "voting:1" || spec.Network != "votes" || !slices.Equal(spec.Args, []string{"record"}) {
		t.Fatalf("task spec %+v", spec)
	}
}

// TestResponses maps run outcomes onto HTTP answers.
func TestResponses(t *testing.T) {
	tests := []struct {
		name string
		out  Output
		err  error
		code int
		body string
		hdr  [2]string
	}{
		{"cgi", Output{Stdout: []byte("Status: 201 Created\nContent-Type: application/json\nX-Vote: a\n\n{}")}, nil, 201, "{}", [2]string{"X-Vote", "a"}},
		{"plain", Output{Stdout: []byte("hi")}, nil, 200, "hi", [2]string{"Content-Type", "text/plain; charset=utf-8"}},
		{"exit 1", Output{ExitCode: 1, Stdout: []byte("secret detail"), Stderr: []byte("boom")}, nil, 502, "the function failed\n", [2]string{}},
		{"timeout", Output{ExitCode: -1}, fmt.Errorf("x: %w", ErrTimeout), 504, "the function did not finish in time\n", [2]string{}},
		{"too large", Output{ExitCode: -1}, ErrOutputTooLarge, 502, "the function's response was too large\n", [2]string{}},
		{"engine down", Output{}, errors.New("dial unix /var/run/docker.sock: connect: no such file"), 502, "the function could not run\n", [2]string{}},
		{"malformed", Output{Stdout: []byte("Status: 200\nno end")}, nil, 502, "the function's response was malformed\n", [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFakeRunner(false)
			fr.out = func(Job) (Output, error) { return tt.out, tt.err }
			s, _ := newTestSet(t, "/f=f:1", nil, fr)
			srv := serveSet(t, s)
			resp, err := http.Post(srv.URL+"/f", "text/plain", nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || string(b) != tt.body || (tt.hdr[0] != "" && resp.Header.Get(tt.hdr[0]) != tt.hdr[1]) {
				t.Fatalf("%d %q %v; want %d %q %v", resp.StatusCode, b, resp.Header, tt.code, tt.body, tt.hdr)
			}
		})
	}
}

func TestAsync(t *testing.T) {
	fr := newFakeRunner(true)
	s, _ := newTestSet(t, "/job;async=jobs:1 run", func(c *Config) { c.AsyncMax = 1 }, fr)
	srv := serveSet(t, s)
	resp, err := http.Post(srv.URL+"/job", "text/plain", strings.NewReader("payload"))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first: %v %v; want 202", resp, err)
	}
	resp.Body.Close()
	j := <-fr.started
	if string(j.Stdin) != "payload" || j.Image != "jobs:1" {
		t.Fatalf("job %+v", j)
	}
	// The backlog (1) is full while the first runs.
	resp, err = http.Post(srv.URL+"/job", "text/plain", nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second: %v %v; want 503 with Retry-After", resp, err)
	}
	resp.Body.Close()
	if err := s.Start("/job", Request{}); !errors.Is(err, ErrAsyncFull) {
		t.Fatalf("Start: %v, want ErrAsyncFull", err)
	}
	fr.release <- struct{}{}
	// Close waits for accepted runs: a second one, accepted now, runs too.
	waitFor(t, "backlog free", func() bool { return s.byName["/job"].async.Load() == 0 })
	if err := s.Start("/job", Request{Stdin: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close(context.Background()) }()
	<-fr.started
	fr.release <- struct{}{}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := len(fr.ran()); n != 2 {
		t.Fatalf("%d runs, want 2", n)
	}
	if err := s.Start("/job", Request{}); !errors.Is(err, ErrDraining) {
		t.Fatalf("Start after Close: %v, want ErrDraining", err)
	}
}

// TestDrainDeadline: runs still going at the drain deadline are killed
// (their context ends), queued and new calls are refused.
func TestDrainDeadline(t *testing.T) {
	fr := newFakeRunner(true)
	s, _ := newTestSet(t, "/f=f:1", func(c *Config) { c.Concurrency, c.QueueTimeout = 1, time.Minute }, fr)
	errs := make(chan error, 2)
	go func() { _, err := s.Call(context.Background(), "/f", Request{}); errs <- err }()
	<-fr.started
	go func() { _, err := s.Call(context.Background(), "/f", Request{}); errs <- err }()
	waitFor(t, "queued", func() bool { return s.queuedOf("/f") == 1 })
	if err := s.Start("/f", Request{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- s.Close(ctx) }()
	gone, leave := context.WithCancel(context.Background())
	leave() // a caller that does not wait: it cannot block the poll
	waitFor(t, "draining", func() bool {
		_, err := s.Call(gone, "/f", Request{})
		return errors.Is(err, ErrDraining)
	})
	cancel() // the drain deadline
	if err := <-closed; err == nil || !strings.Contains(err.Error(), "3 runs") {
		t.Fatalf("Close: %v, want 3 runs killed or dropped", err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrDraining) {
			t.Errorf("call cut by the drain: %v, want ErrDraining", err)
		}
	}
	if n := len(fr.ran()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

func TestCall(t *testing.T) {
	fr := newFakeRunner(false)
	fr.out = func(j Job) (Output, error) {
		return Output{ExitCode: 3, Stdout: []byte(strings.Join(j.Args, " ")), Stderr: []byte(strings.Repeat("e", 100))}, nil
	}
	s, _ := newTestSet(t, "", func(c *Config) {
		c.MaxStderr = 10
		c.Functions = []Function{{Name: "record", Command: "./voting", Args: []string{"record"}}}
	}, fr)
	res, err := s.Call(context.Background(), "record", Request{Args: []string{"-v"}, Env: []string{"VOTE=a"}, Stdin: []byte("x")})
	if err != nil || res.ExitCode != 3 || string(res.Stdout) != "record -v" || len(res.Stderr) != 10 {
		t.Fatalf("Call = %+v, %v", res, err)
	}
	if j := fr.ran()[0]; j.Command != "./voting" || !slices.Equal(j.Env, []string{"VOTE=a"}) {
		t.Fatalf("job %+v", j)
	}
	if _, err := s.Call(context.Background(), "nope", Request{}); !errors.Is(err, ErrUnknownFunction) {
		t.Errorf("unknown: %v", err)
	}
	for _, env := range []string{"NOEQUALS", "A-B=1", "=x", "1A=x", "A=\x00"} {
		if _, err := s.Call(context.Background(), "record", Request{Env: []string{env}}); err == nil {
			t.Errorf("env %q: no error", env)
		}
	}
	if n := len(fr.ran()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
	// A set without a runner for a kind refuses functions of that kind.
	cfg := DefaultConfig()
	cfg.Functions, _ = ParseRoutes("/a=img:1")
	if _, err := New(cfg, Runners{Exec: fr}, nil, nil); err == nil || !strings.Contains(err.Error(), "/a=img:1") {
		t.Errorf("New without an image runner: %v", err)
	}
}
