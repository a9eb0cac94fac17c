package guard

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/spawner"
)

const (
	webIP    = "10.0.1.11"
	apiIP    = "10.0.1.21"
	strange  = "10.0.1.99" // on the network, no task of a labelled service
	bearer   = "Bearer " + testToken
	noBearer = ""
)

type answer struct {
	Status int
	Body   []byte
}

func (a answer) rule() string {
	var e spawner.GuardError
	_ = json.Unmarshal(a.Body, &e)
	return e.Rule
}

func do(t *testing.T, h http.Handler, from, auth, method, path, body string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = from + ":40000"
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answer{Status: rec.Code, Body: rec.Body.Bytes()}
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		name   string
		from   string
		auth   string
		status int
		rule   string
	}{
		{"no token", webIP, noBearer, 401, spawner.RuleBadToken},
		{"wrong token", webIP, "Bearer " + strings.Repeat("x", len(testToken)), 401, spawner.RuleBadToken},
		{"token without Bearer", webIP, testToken, 401, spawner.RuleBadToken},
		{"token prefix", webIP, bearer[:len(bearer)-1], 401, spawner.RuleBadToken},
		{"unknown address", strange, bearer, 403, spawner.RuleUnknownCaller},
		{"task of an unlabelled service", "10.0.1.31", bearer, 403, spawner.RuleUnknownCaller},
		{"web task", webIP, bearer, 200, ""},
		{"web task, v4-in-v6", "[::ffff:" + webIP + "]", bearer, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _, _ := newTestServer(t, testConfig())
			a := do(t, s, tt.from, tt.auth, "GET", spawner.GuardPathWhoami, "")
			if a.Status != tt.status || a.rule() != tt.rule {
				t.Fatalf("whoami = %d %s, want %d %q", a.Status, a.Body, tt.status, tt.rule)
			}
			if tt.status == 200 {
				var w spawner.GuardWhoami
				if err := json.Unmarshal(a.Body, &w); err != nil || w.Service != "app_web" || w.Task != "app_web.1.t1" {
					t.Fatalf("whoami = %s (%v), want app_web.1.t1", a.Body, err)
				}
			}
		})
	}
}

// TestBadTokenCostsNoLookup: without the secret the guard does not even
// list tasks, so strangers cannot make it call the daemon.
func TestBadTokenCostsNoLookup(t *testing.T) {
	s, p, _, _ := newTestServer(t, testConfig())
	for range 20 {
		do(t, s, strange, noBearer, "GET", spawner.GuardPathStatus, "")
	}
	if n := p.labelCalls(); n != 0 {
		t.Fatalf("task lists = %d, want 0", n)
	}
}

// TestCallerMapRefresh: an unknown address refreshes the map at most once
// per RefreshEvery; the map is reloaded after CacheTTL, so a task that
// left (its address now someone else's) is no longer trusted.
func TestCallerMapRefresh(t *testing.T) {
	s, p, _, clk := newTestServer(t, testConfig())
	whoami := func(from string) answer { return do(t, s, from, bearer, "GET", spawner.GuardPathWhoami, "") }
	if a := whoami(webIP); a.Status != 200 || p.labelCalls() != 1 {
		t.Fatalf("first call: %d, lists %d; want 200 after one list", a.Status, p.labelCalls())
	}
	for range 10 {
		if a := whoami(strange); a.rule() != spawner.RuleUnknownCaller {
			t.Fatalf("stranger: %d %s", a.Status, a.Body)
		}
	}
	if n := p.labelCalls(); n != 1 {
		t.Fatalf("lists after 10 strangers within a second = %d, want 1", n)
	}
	clk.add(time.Second)
	whoami(strange)
	if n := p.labelCalls(); n != 2 {
		t.Fatalf("lists after a stranger a second later = %d, want 2", n)
	}
	// The web task at .11 goes; its address is given to api's new task.
	p.mu.Lock()
	p.Tasks = []spawner.ServiceTask{{ID: "a2", Name: "app_api.2.a2", ServiceID: "svc-api", ServiceName: "app_api", Addrs: map[string]string{"n": webIP}}}
	p.mu.Unlock()
	if a := whoami(webIP); a.Status != 200 || !strings.Contains(string(a.Body), "app_web") {
		t.Fatalf("within the TTL: %d %s, want the cached app_web", a.Status, a.Body)
	}
	clk.add(testConfig().CacheTTL)
	if a := whoami(webIP); !strings.Contains(string(a.Body), "app_api.2.a2") {
		t.Fatalf("after the TTL: %d %s, want app_api.2.a2", a.Status, a.Body)
	}
}

func TestAmbiguousAddressIsRefused(t *testing.T) {
	s, p, _, _ := newTestServer(t, testConfig())
	p.Tasks = append(p.Tasks, spawner.ServiceTask{ID: "x", Name: "app_api.9.x", ServiceID: "svc-api", ServiceName: "app_api", Addrs: map[string]string{"other": webIP}})
	if a := do(t, s, webIP, bearer, "GET", spawner.GuardPathWhoami, ""); a.rule() != spawner.RuleUnknownCaller {
		t.Fatalf("address of two services: %d %s, want unknown_caller", a.Status, a.Body)
	}
}

func TestDaemonDownIsEngineError(t *testing.T) {
	s, p, _, _ := newTestServer(t, testConfig())
	p.LabelledErr = errors.New("Cannot connect to the Docker daemon")
	if a := do(t, s, webIP, bearer, "GET", spawner.GuardPathStatus, ""); a.Status != 502 || a.rule() != spawner.RuleEngine {
		t.Fatalf("daemon down: %d %s, want 502 engine_error", a.Status, a.Body)
	}
}

func TestStatus(t *testing.T) {
	s, _, _, _ := newTestServer(t, testConfig())
	a := do(t, s, webIP, bearer, "GET", spawner.GuardPathStatus+"?service=app_web", "")
	if a.Status != 200 {
		t.Fatalf("status: %d %s", a.Status, a.Body)
	}
	var st spawner.GuardStatus
	if err := json.Unmarshal(a.Body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Service != "app_web" || st.Desired != 2 || st.Running != 2 || st.Version != 7 || st.Min != 2 || st.Max != 5 || len(st.Tasks) != 2 || st.Tasks[1].Addrs["app_mitosis"] != "10.0.1.12" {
		t.Fatalf("status = %+v", st)
	}
	for path, rule := range map[string]string{
		spawner.GuardPathStatus + "?service=app_api": spawner.RuleOtherService,
		spawner.GuardPathStatus + "?service=app_db":  spawner.RuleOtherService,
		spawner.GuardPathStatus + "?id=svc-api":      spawner.RuleUnknownField,
	} {
		if a := do(t, s, webIP, bearer, "GET", path, ""); a.rule() != rule {
			t.Errorf("%s: %d %s, want %s", path, a.Status, a.Body, rule)
		}
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		name    string
		from    string
		body    string
		status  int
		rule    string
		applied []string
	}{
		{"up within bounds", webIP, `{"replicas":4,"version":7}`, 200, "", []string{"svc-web=4"}},
		{"naming the own service", webIP, `{"service":"app_web","replicas":5,"version":7}`, 200, "", []string{"svc-web=5"}},
		{"another service by name", webIP, `{"service":"app_db","replicas":3,"version":9}`, 403, spawner.RuleOtherService, nil},
		{"above the own max", webIP, `{"replicas":6,"version":7}`, 403, spawner.RuleAboveMax, nil},
		{"far above", webIP, `{"replicas":1000000,"version":7}`, 403, spawner.RuleAboveMax, nil},
		{"below the own min", webIP, `{"replicas":1,"version":7}`, 403, spawner.RuleBelowMin, nil},
		{"zero", webIP, `{"replicas":0,"version":7}`, 403, spawner.RuleBelowMin, nil},
		{"negative", webIP, `{"replicas":-3,"version":7}`, 403, spawner.RuleBelowMin, nil},
		{"stale version", webIP, `{"replicas":3,"version":6}`, 409, spawner.RuleConflict, nil},
		{"default bounds of an unbounded service", apiIP, `{"replicas":10,"version":3}`, 200, "", []string{"svc-api=10"}},
		{"above the default max", apiIP, `{"replicas":11,"version":3}`, 403, spawner.RuleAboveMax, nil},
		{"image smuggled", webIP, `{"replicas":3,"version":7,"image":"evil:1"}`, 400, spawner.RuleUnknownField, nil},
		{"env smuggled", webIP, `{"replicas":3,"version":7,"Env":["X=1"]}`, 400, spawner.RuleUnknownField, nil},
		{"mounts smuggled", webIP, `{"replicas":3,"version":7,"TaskTemplate":{"ContainerSpec":{"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}}}`, 400, spawner.RuleUnknownField, nil},
		{"user smuggled", webIP, `{"replicas":3,"version":7,"user":"0"}`, 400, spawner.RuleUnknownField, nil},
		{"ports smuggled", webIP, `{"replicas":3,"version":7,"EndpointSpec":{"Ports":[{"TargetPort":22,"PublishedPort":22}]}}`, 400, spawner.RuleUnknownField, nil},
		{"second object", webIP, `{"replicas":3,"version":7}{"image":"evil"}`, 400, spawner.RuleBadRequest, nil},
		{"not json", webIP, `replicas=3`, 400, spawner.RuleBadRequest, nil},
		{"too large", webIP, `{"replicas":3,"version":7,"service":"` + strings.Repeat("a", maxBody) + `"}`, 413, spawner.RuleTooLarge, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p, _, _ := newTestServer(t, testConfig())
			a := do(t, s, tt.from, bearer, "POST", spawner.GuardPathScale, tt.body)
			if a.Status != tt.status || a.rule() != tt.rule {
				t.Fatalf("scale = %d %s, want %d %q", a.Status, a.Body, tt.status, tt.rule)
			}
			if got := p.applied(); !reflect.DeepEqual(got, tt.applied) {
				t.Fatalf("applied = %v, want %v", got, tt.applied)
			}
		})
	}
}

func TestScaleBadBounds(t *testing.T) {
	for _, env := range [][]string{
		{"MITOSIS_MAX_REPLICAS=lots"},
		{"MITOSIS_MIN_REPLICAS=0"},
		{"MITOSIS_MIN_REPLICAS=6", "MITOSIS_MAX_REPLICAS=5"},
	} {
		s, p, _, _ := newTestServer(t, testConfig())
		p.Services["svc-web"].Env = env
		if a := do(t, s, webIP, bearer, "POST", spawner.GuardPathScale, `{"replicas":3,"version":7}`); a.rule() != spawner.RuleBadBounds {
			t.Errorf("env %v: %d %s, want bad_bounds", env, a.Status, a.Body)
		}
		if len(p.applied()) != 0 {
			t.Errorf("env %v: applied %v", env, p.applied())
		}
	}
	// The guard's own cap wins over a service's MAX_REPLICAS.
	cfg := testConfig()
	cfg.HardCap = 4
	s, _, _, _ := newTestServer(t, cfg)
	if a := do(t, s, webIP, bearer, "POST", spawner.GuardPathScale, `{"replicas":5,"version":7}`); a.rule() != spawner.RuleAboveMax {
		t.Fatalf("above the hard cap: %d %s", a.Status, a.Body)
	}
}

func TestScaleRateLimit(t *testing.T) {
	cfg := testConfig()
	cfg.ScalesPerMinute = 12 // bursts of 2, then one each 5 s
	s, p, _, clk := newTestServer(t, cfg)
	scale := func(from string, n int, v uint64) answer {
		return do(t, s, from, bearer, "POST", spawner.GuardPathScale, `{"replicas":`+itoa(n)+`,"version":`+itoa(int(v))+`}`)
	}
	if scale(webIP, 3, 7).Status != 200 || scale(webIP, 4, 8).Status != 200 {
		t.Fatal("the burst was refused")
	}
	if a := scale(webIP, 5, 9); a.Status != 429 || a.rule() != spawner.RuleRateLimited {
		t.Fatalf("third in a row: %d %s, want 429 rate_limited", a.Status, a.Body)
	}
	if a := scale(apiIP, 2, 3); a.Status != 200 {
		t.Fatalf("another service shares no bucket: %d %s", a.Status, a.Body)
	}
	clk.add(5 * time.Second)
	if a := scale(webIP, 5, 9); a.Status != 200 {
		t.Fatalf("after 5s: %d %s", a.Status, a.Body)
	}
	if got := len(p.applied()); got != 4 {
		t.Fatalf("applied %d, want 4", got)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestEngineAPIIsNotThere: raw Engine API requests, with or without the
// token, from a caller or not, get 404 and reach nothing.
func TestEngineAPIIsNotThere(t *testing.T) {
	s, p, r, _ := newTestServer(t, testConfig())
	for _, req := range []struct{ method, path, body string }{
		{"GET", "/_ping", ""},
		{"HEAD", "/_ping", ""},
		{"GET", "/version", ""},
		{"GET", "/v1.41/containers/json", ""},
		{"POST", "/containers/create", `{"Image":"fn:1","HostConfig":{"Privileged":true,"Binds":["/:/host"]}}`},
		{"POST", "/v1.41/containers/create", `{"Image":"fn:1"}`},
		{"POST", "/v1.41/services/svc-web/update?version=7", `{"Name":"app_web"}`},
		{"GET", "/services", ""},
		{"POST", "/v1.41/exec/abc/start", ""},
		{"GET", "/guard/v1/status/../../containers/json", ""},
		{"GET", "/guard/v1/", ""},
		{"GET", "/guard/v1/run", ""},
	} {
		for _, auth := range []string{noBearer, bearer} {
			a := do(t, s, webIP, auth, req.method, req.path, req.body)
			want := 404
			if req.path == spawner.GuardPathRun {
				want = 405
			}
			if a.Status != want {
				t.Errorf("%s %s (auth %t): %d %s, want %d", req.method, req.path, auth != "", a.Status, a.Body, want)
			}
		}
	}
	if len(p.applied()) != 0 || len(r.specs()) != 0 || p.labelCalls() != 0 {
		t.Fatalf("something was reached: applied %v, runs %v, lists %d", p.applied(), r.specs(), p.labelCalls())
	}
}

func TestMetricsCountCalls(t *testing.T) {
	reg := prometheus.NewRegistry()
	p, r, clk := newFakePlatform(), &fakeRunner{}, newClock()
	s, err := NewServer(testConfig(), []byte(testToken), p, r.forCaller, reg, nil, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	do(t, s, webIP, bearer, "POST", spawner.GuardPathScale, `{"replicas":3,"version":7}`)
	do(t, s, webIP, bearer, "POST", spawner.GuardPathScale, `{"replicas":9,"version":8}`)
	do(t, s, strange, bearer, "GET", spawner.GuardPathStatus, "")
	do(t, s, webIP, noBearer, "GET", "/v1.41/containers/json", "")
	for _, c := range []struct {
		service, action, result string
		want                    float64
	}{
		{"app_web", "scale", "ok", 1},
		{"app_web", "scale", "above_max", 1},
		{"unknown", "status", "unknown_caller", 1},
		{"unknown", "none", "not_found", 1},
	} {
		labels := map[string]string{"service": c.service, "action": c.action, "result": c.result}
		if got := counterValue(t, reg, "mitosis_guard_calls_total", labels); got != c.want {
			t.Errorf("calls%v = %g, want %g", labels, got, c.want)
		}
	}
}

// counterValue reads the counter name of reg with exactly labels.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if reflect.DeepEqual(got, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
