package integration

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAdminEndpoints(t *testing.T) {
	integration(t)
	p := startReady(t, "adm", nil)
	c := loadClient(t)

	// The public side: the demo app behind the balancer.
	r := doGet(c, p.pubURL("/"), nil, 5*time.Second)
	if r.err != nil || r.code != 200 || !strings.Contains(r.body, "adm") {
		t.Fatalf("GET / = %d %q %v, want 200 naming the replica", r.code, r.body, r.err)
	}
	for i := 0; i < 5; i++ {
		r = doGet(c, p.pubURL("/work?ms=10"), nil, 5*time.Second)
		if r.err != nil || r.code != 200 || r.replica != "adm" || !strings.Contains(r.body, "worked 10ms on adm") {
			t.Fatalf("GET /work?ms=10 = %d %q replica=%q %v", r.code, r.body, r.replica, r.err)
		}
	}
	if r = doGet(c, p.pubURL("/work?ms=oops"), nil, 5*time.Second); r.code != 400 {
		t.Errorf("GET /work?ms=oops = %d, want 400 from the demo app", r.code)
	}

	t.Run("healthz and readyz", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, body, err := get(p.adminURL(path), nil); err != nil || code != 200 {
				t.Errorf("GET %s = %d %q %v, want 200", path, code, body, err)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		code, body, err := get(p.adminURL("/metrics"), nil)
		if err != nil || code != 200 {
			t.Fatalf("GET /metrics = %d %v", code, err)
		}
		for _, name := range []string{"mitosis_request_duration_seconds", "mitosis_inflight", "mitosis_queue_depth",
			"mitosis_queue_wait_seconds", "mitosis_shed_total"} {
			if !strings.Contains(body, "\n# TYPE "+name+" ") {
				t.Errorf("/metrics lacks %s", name)
			}
		}
		m := parseMetrics(body)
		// 1 + 5 + 1 requests so far: GET /, five /work, one 400.
		if got := m[`mitosis_request_duration_seconds_count{code="2xx"}`]; got != 6 {
			t.Errorf("2xx count = %v, want 6", got)
		}
		if got := m[`mitosis_request_duration_seconds_count{code="4xx"}`]; got != 1 {
			t.Errorf("4xx count = %v, want 1", got)
		}
		if got := m["mitosis_inflight"]; got != 0 {
			t.Errorf("mitosis_inflight = %v at rest, want 0", got)
		}
	})

	t.Run("state", func(t *testing.T) {
		code, body, err := get(p.adminURL("/_mitosis/state"), nil)
		if err != nil || code != 200 {
			t.Fatalf("GET /_mitosis/state = %d %v", code, err)
		}
		for _, key := range []string{`"id"`, `"inflight"`, `"queued"`, `"capacity"`, `"rps"`, `"latency_ms"`, `"p50"`, `"p95"`, `"p99"`, `"draining"`} {
			if !strings.Contains(body, key) {
				t.Errorf("state lacks %s:\n%s", key, body)
			}
		}
		s, err := p.state(nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != "adm" || s.Capacity != 100 || s.Inflight != 0 || s.Queued != 0 || s.Draining || !s.Ready {
			t.Errorf("state = %+v, want id adm, capacity 100, idle, ready, not draining", s.State)
		}
		if s.LatencyMS.P50 < 10 || s.LatencyMS.P95 < s.LatencyMS.P50 || s.LatencyMS.P99 < s.LatencyMS.P95 {
			t.Errorf("latency_ms = %+v, want p50 >= 10 (the /work?ms=10 calls) and p50 <= p95 <= p99", s.LatencyMS)
		}
		if s.RPS <= 0 {
			t.Errorf("rps = %v after 7 requests, want > 0", s.RPS)
		}
		if _, port, _ := net.SplitHostPort(p.pub); strconv.Itoa(s.PublicPort) != port {
			t.Errorf("public_port = %d, want %s", s.PublicPort, port)
		}
	})

	t.Run("live page", func(t *testing.T) {
		resp, err := shortClient.Get(p.adminURL("/_mitosis/"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(b.String(), "<html") || !strings.Contains(b.String(), "/_mitosis/assets/app.js") {
			t.Fatalf("GET /_mitosis/ = %d %s, want the HTML page:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), b.String())
		}
		// Its data names the replica and sums the tier.
		code, body, err := get(p.adminURL("/_mitosis/api/view"), nil)
		if err != nil || code != 200 || !strings.Contains(body, `"id":"adm"`) || !strings.Contains(body, `"points":[`) {
			t.Fatalf("GET /_mitosis/api/view = %d %v:\n%s", code, err, body)
		}
		// The admin root leads to the page.
		noFollow := &http.Client{Timeout: 3 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp2, err := noFollow.Get(p.adminURL("/"))
		if err != nil {
			t.Fatal(err)
		}
		resp2.Body.Close()
		if resp2.StatusCode != http.StatusFound || resp2.Header.Get("Location") != "/_mitosis/" {
			t.Errorf("GET admin / = %d Location %q, want 302 to /_mitosis/", resp2.StatusCode, resp2.Header.Get("Location"))
		}
	})

	t.Run("healthcheck subcommand", func(t *testing.T) {
		env := []string{"MITOSIS_ADMIN_LISTEN=" + p.admin, "MITOSIS_LISTEN=127.0.0.1:1"}
		for _, args := range [][]string{{"healthcheck"}, {"healthcheck", "-ready"}} {
			if code, out := runOnce(t, env, args...); code != 0 {
				t.Errorf("mitosis %q = %d, want 0: %s", args, code, out)
			}
		}
		dead := []string{"MITOSIS_ADMIN_LISTEN=" + freeAddr(t), "MITOSIS_LISTEN=127.0.0.1:1"}
		if code, out := runOnce(t, dead, "healthcheck"); code != 1 || len(out) == 0 {
			t.Errorf("healthcheck against a dead address = %d (%q), want 1 and a message", code, out)
		}
	})
}

func TestReplicaHeaderOff(t *testing.T) {
	integration(t)
	p := startReady(t, "nohdr", []string{"MITOSIS_REPLICA_HEADER=false"})
	r := doGet(loadClient(t), p.pubURL("/work?ms=10"), nil, 5*time.Second)
	if r.err != nil || r.code != 200 {
		t.Fatalf("GET /work = %d %v", r.code, r.err)
	}
	if r.replica != "" {
		t.Fatalf("X-Mitosis-Replica = %q with MITOSIS_REPLICA_HEADER=false, want none", r.replica)
	}
}

func TestClusterTokenGuardsState(t *testing.T) {
	integration(t)
	p := startReady(t, "tok", []string{"MITOSIS_CLUSTER_TOKEN=s", "MITOSIS_PPROF=true"})
	tests := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"wrong token", map[string]string{"X-Mitosis-Token": "t"}, http.StatusUnauthorized},
		{"right token", map[string]string{"X-Mitosis-Token": "s"}, http.StatusOK},
		{"right bearer token", map[string]string{"Authorization": "Bearer s"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, err := get(p.adminURL("/_mitosis/state"), tt.hdr)
			if err != nil || code != tt.want {
				t.Fatalf("GET /_mitosis/state = %d %q %v, want %d", code, body, err, tt.want)
			}
			if code == 200 && !strings.Contains(body, `"id": "tok"`) {
				t.Fatalf("state body %q does not name the replica", body)
			}
		})
	}
	// The page, its data, the scrape targets and the profiler too (issue
	// 16: the page showed the state without the token).
	for _, path := range []string{"/_mitosis/", "/_mitosis/api/view", "/_mitosis/targets", "/debug/pprof/"} {
		code, body, err := get(p.adminURL(path), nil)
		if err != nil || code != http.StatusUnauthorized || strings.Contains(body, `"tok"`) {
			t.Errorf("GET %s without the token = %d %v, want 401 and nothing of the replica:\n%s", path, code, err, body)
		}
		if code, _, err := get(p.adminURL(path), map[string]string{"X-Mitosis-Token": "s"}); err != nil || code != 200 {
			t.Errorf("GET %s with the token = %d %v, want 200", path, code, err)
		}
	}
	// Health endpoints stay open: orchestrators do not know the token.
	if code, _, err := get(p.adminURL("/readyz"), nil); err != nil || code != 200 {
		t.Errorf("/readyz with a cluster token = %d %v, want 200", code, err)
	}
}

// TestPProf: the Go profiler is off unless MITOSIS_PPROF=true.
func TestPProf(t *testing.T) {
	integration(t)
	off := startReady(t, "nopprof", nil)
	if code, _, err := get(off.adminURL("/debug/pprof/"), nil); err != nil || code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ by default = %d %v, want 404", code, err)
	}
	on := startReady(t, "pprof", []string{"MITOSIS_PPROF=true"})
	if code, body, err := get(on.adminURL("/debug/pprof/"), nil); err != nil || code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/ with MITOSIS_PPROF=true = %d %v", code, err)
	}
	if code, body, err := get(on.adminURL("/debug/pprof/goroutine?debug=1"), nil); err != nil || code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("GET /debug/pprof/goroutine = %d %v: %.200s", code, err, body)
	}
	// Never on the public port.
	if code, body, err := get(on.pubURL("/debug/pprof/"), nil); err != nil || strings.Contains(body, "goroutine") {
		t.Errorf("public /debug/pprof/ = %d %v: the profiler answers on the public port", code, err)
	}
}
