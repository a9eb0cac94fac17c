package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		rule   string
		runs   int
	}{
		{"allowed", `{"image":"fn:1","args":["a","b"],"env":["K=v"],"timeout":"10s"}`, 200, "", 1},
		{"allowed by digest", `{"image":"registry.example/fn@sha256:abc"}`, 200, "", 1},
		{"not on the list", `{"image":"alpine:3"}`, 403, spawner.RuleNotAllowedImage, 0},
		{"a tag of a listed name", `{"image":"fn:2"}`, 403, spawner.RuleNotAllowedImage, 0},
		{"no image", `{}`, 403, spawner.RuleNotAllowedImage, 0},
		{"privileged", `{"image":"fn:1","privileged":true}`, 400, spawner.RuleUnknownField, 0},
		{"HostConfig", `{"image":"fn:1","HostConfig":{"Privileged":true}}`, 400, spawner.RuleUnknownField, 0},
		{"bind mount of /", `{"image":"fn:1","binds":["/:/host"]}`, 400, spawner.RuleUnknownField, 0},
		{"mounts", `{"image":"fn:1","Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}`, 400, spawner.RuleUnknownField, 0},
		{"network", `{"image":"fn:1","network":"host"}`, 400, spawner.RuleUnknownField, 0},
		{"user", `{"image":"fn:1","user":"0"}`, 400, spawner.RuleUnknownField, 0},
		{"cap_add", `{"image":"fn:1","CapAdd":["SYS_ADMIN"]}`, 400, spawner.RuleUnknownField, 0},
		{"devices", `{"image":"fn:1","devices":["/dev/sda"]}`, 400, spawner.RuleUnknownField, 0},
		{"pid host", `{"image":"fn:1","PidMode":"host"}`, 400, spawner.RuleUnknownField, 0},
		{"timeout above the max", `{"image":"fn:1","timeout":"2m"}`, 403, spawner.RuleTimeoutTooLong, 0},
		{"negative timeout", `{"image":"fn:1","timeout":"-1s"}`, 400, spawner.RuleBadRequest, 0},
		{"bad env", `{"image":"fn:1","env":["=x"]}`, 400, spawner.RuleBadRequest, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, r, _ := newTestServer(t, testConfig())
			a := do(t, s, webIP, bearer, "POST", spawner.GuardPathRun, tt.body)
			if a.Status != tt.status || a.rule() != tt.rule {
				t.Fatalf("run = %d %s, want %d %q", a.Status, a.Body, tt.status, tt.rule)
			}
			if got := len(r.specs()); got != tt.runs {
				t.Fatalf("runs = %d, want %d", got, tt.runs)
			}
		})
	}
}

// TestRunSettingsComeFromTheGuard: the network, the timeout default and
// the owner are the guard's, and the answer carries the result.
func TestRunSettingsComeFromTheGuard(t *testing.T) {
	s, _, r, _ := newTestServer(t, testConfig())
	a := do(t, s, webIP, bearer, "POST", spawner.GuardPathRun, `{"image":"fn:1","args":["x"]}`)
	if a.Status != 200 {
		t.Fatalf("run: %d %s", a.Status, a.Body)
	}
	var res spawner.GuardRunResult
	if err := json.Unmarshal(a.Body, &res); err != nil || res.ExitCode != 3 || string(res.Stdout) != "hello from fn:1: " || string(res.Stderr) != "warn" {
		t.Fatalf("result = %+v, %v", res, err)
	}
	want := spawner.TaskSpec{Image: "fn:1", Args: []string{"x"}, Network: "app_functions", Timeout: time.Minute}
	if got := r.specs()[0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("spec = %+v, want %+v", got, want)
	}
	if !reflect.DeepEqual(r.Owners, []string{"app_web/app_web.1.t1"}) {
		t.Fatalf("owners = %v", r.Owners)
	}
}

func TestRunFailures(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		rule   string
	}{
		{fmt.Errorf("spawner: task fn:1: %w", context.DeadlineExceeded), 504, spawner.RuleRunTimeout},
		{errors.New("spawner: task fn:1: create: No such image"), 502, spawner.RuleRunFailed},
		{fmt.Errorf("spawner: task fn:1: %w", spawner.ErrOutputLimit), 502, spawner.RuleOutputTooLarge},
	} {
		s, _, r, _ := newTestServer(t, testConfig())
		r.Err = c.err
		if a := do(t, s, webIP, bearer, "POST", spawner.GuardPathRun, `{"image":"fn:1"}`); a.Status != c.status || a.rule() != c.rule {
			t.Errorf("%v: %d %s, want %d %s", c.err, a.Status, a.Body, c.status, c.rule)
		}
	}
}

// TestRunConcurrencyPerService: a service gets Runs at once; the next is
// refused; another service is not affected; a finished run frees its slot.
func TestRunConcurrencyPerService(t *testing.T) {
	s, _, r, _ := newTestServer(t, testConfig()) // Runs: 2
	r.Block, r.Start = make(chan struct{}), make(chan struct{}, 8)
	done := make(chan answer, 2)
	for range 2 {
		go func() { done <- do(t, s, webIP, bearer, "POST", spawner.GuardPathRun, `{"image":"fn:1"}`) }()
		<-r.Start
	}
	if a := do(t, s, webIP, bearer, "POST", spawner.GuardPathRun, `{"image":"fn:1"}`); a.Status != 429 || a.rule() != spawner.RuleRateLimited {
		t.Fatalf("third run at once: %d %s, want 429 rate_limited", a.Status, a.Body)
	}
	go func() { done <- do(t, s, apiIP, bearer, "POST", spawner.GuardPathRun, `{"image":"fn:1"}`) }()
	<-r.Start // another service's run starts while app_web's two block
	close(r.Block)
	for range 3 {
		if a := <-done; a.Status != 200 {
			t.Fatalf("blocked run: %d %s", a.Status, a.Body)
		}
	}
	r.Block = nil
	if a := do(t, s, webIP, bearer, "POST", spawner.GuardPathRun, `{"image":"fn:1"}`); a.Status != 200 {
		t.Fatalf("after the runs ended: %d %s", a.Status, a.Body)
	}
}

func TestRunWithoutRunnerIsRefused(t *testing.T) {
	p, clk := newFakePlatform(), newClock()
	s, err := NewServer(testConfig(), []byte(testToken), p, nil, nil, nil, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if a := do(t, s, webIP, bearer, "POST", spawner.GuardPathRun, `{"image":"fn:1"}`); a.rule() != spawner.RuleNotAllowedImage {
		t.Fatalf("run without a runner: %d %s", a.Status, a.Body)
	}
}

// TestTaskRunnersCreateLockedDownContainers: what the guard's runner asks
// the daemon for: the caller as owner and group, the guard's network,
// and the forced-safe settings (the Engine API seen from the daemon's
// side: a fake that records the create request and refuses it).
func TestTaskRunnersCreateLockedDownContainers(t *testing.T) {
	// The create request as the Engine API spells it (no SDK types here).
	type createRequest struct {
		User       string
		Labels     map[string]string
		HostConfig *struct {
			Privileged       bool
			CapAdd, CapDrop  []string
			ReadonlyRootfs   bool
			Binds            []string
			Mounts, Devices  []any
			NetworkMode      string
			PidMode, IpcMode string
			Memory, NanoCpus int64
			PidsLimit        *int64
		}
	}
	created := make(chan createRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Header().Set("API-Version", "1.41")
			return
		}
		if strings.HasSuffix(r.URL.Path, "/containers/create") {
			var req createRequest
			_ = json.NewDecoder(r.Body).Decode(&req)
			created <- req
		}
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"fake: no"}`))
	}))
	defer srv.Close()
	ecfg := spawner.DefaultEngineConfig()
	ecfg.Host = "tcp://" + srv.Listener.Addr().String()
	e, err := spawner.NewEngine(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rn, err := taskRunners(e, spawner.DefaultTaskConfig())(caller{Service: "app_web", Task: "app_web.1.t1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rn.RunTask(context.Background(), spawner.TaskSpec{Image: "fn:1", Network: "app_functions"}); err == nil {
		t.Fatal("the fake refused the create, RunTask did not fail")
	}
	req := <-created
	hc := req.HostConfig
	if req.Labels[spawner.LabelTaskOwner] != "app_web.1.t1" || req.Labels[spawner.LabelTaskGroup] != "app_web" {
		t.Errorf("labels = %v, want the caller as owner and group", req.Labels)
	}
	if hc == nil || hc.Privileged || len(hc.CapAdd) > 0 || !slices.Contains(hc.CapDrop, "ALL") || !hc.ReadonlyRootfs ||
		len(hc.Binds) > 0 || len(hc.Mounts) > 0 || len(hc.Devices) > 0 || hc.NetworkMode != "app_functions" ||
		hc.PidMode == "host" || hc.IpcMode == "host" || hc.Memory <= 0 || hc.NanoCpus <= 0 || hc.PidsLimit == nil || *hc.PidsLimit <= 0 {
		t.Errorf("host config = %+v, want the forced-safe settings on the guard's network", hc)
	}
	if u := req.User; u == "" || strings.HasPrefix(u, "0") {
		t.Errorf("user = %q, want a non-root uid", u)
	}
}
