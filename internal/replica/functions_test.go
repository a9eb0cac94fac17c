package replica

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/functions"
	"github.com/mitosis-run/mitosis/internal/config"
)

func functionsConfig(t *testing.T, id, routes string) config.Config {
	t.Helper()
	c := testConfig(id)
	fs, err := functions.ParseRoutes(routes)
	if err != nil {
		t.Fatal(err)
	}
	c.Functions.Functions = fs
	return c
}

func postBody(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFunctionRoutes: MITOSIS_FUNCTIONS routes are served in front of the
// app, a program's own functions are callable from its handler, local
// programs see the request but not the replica's settings, and the drain
// waits for an async run.
func TestFunctionRoutes(t *testing.T) {
	c := functionsConfig(t, "fn-1", "/cat=exec:/bin/cat,/env=exec:/usr/bin/env,/bg;async=exec:/bin/sleep 1")
	c.Balancer.ClusterToken = "tier-secret"
	echo, err := functions.ParseTarget("echo", "exec:/bin/echo from-go")
	if err != nil {
		t.Fatal(err)
	}
	app := func(r *Replica) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			res, err := r.Functions().Call(req.Context(), "echo", functions.Request{})
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprintf(w, "app: %s replicas=%d", res.Stdout, r.Tier().Replicas)
		})
	}
	reg := prometheus.NewRegistry()
	s := startTest(t, c, WithApp(app), WithFunctions(echo), WithRegistry(reg),
		WithEnviron([]string{"PATH=/usr/bin:/bin", "MITOSIS_CLUSTER_TOKEN=tier-secret"}))
	base := "http://" + s.Addr()

	if code, body := postBody(t, base+"/cat", "hello"); code != 200 || body != "hello" {
		t.Errorf("POST /cat: %d %q, want 200 hello", code, body)
	}
	req, _ := http.NewRequest("GET", base+"/env/x?y=1", nil)
	req.Header.Set("X-Voter", "v1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	env := string(b)
	for _, want := range []string{"HTTP_X_VOTER=v1", "PATH_INFO=/x", "QUERY_STRING=y=1", "PATH=/usr/bin:/bin"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("the function's environment lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(env, "tier-secret") || strings.Contains(env, "MITOSIS_") {
		t.Errorf("the replica's settings reached the function:\n%s", env)
	}
	if code, body := getBody(t, base+"/other"); code != 200 || body != "app: from-go\n replicas=1" {
		t.Errorf("GET /other: %d %q", code, body)
	}
	if code, _ := postBody(t, base+"/bg", ""); code != http.StatusAccepted {
		t.Errorf("POST /bg: %d, want 202", code)
	}
	s.stop()
	if st := s.exit(t); st != 0 {
		t.Errorf("exit status %d, want 0 (the async run finished within the drain)", st)
	}
	if got := runs(t, reg, "/bg", "ok"); got != 1 {
		t.Errorf("async runs ok after the drain: %g, want 1", got)
	}
}

// TestFunctionDrainDeadline: an async run still going at the drain
// timeout is killed and the drain reports it.
func TestFunctionDrainDeadline(t *testing.T) {
	c := functionsConfig(t, "fn-2", "/hang;async=exec:/bin/sleep 60")
	c.DrainTimeout = time.Second
	reg := prometheus.NewRegistry()
	s := startTest(t, c, WithEnviron([]string{"PATH=/usr/bin:/bin"}), WithRegistry(reg))
	if code, _ := postBody(t, "http://"+s.Addr()+"/hang", ""); code != http.StatusAccepted {
		t.Fatalf("POST /hang: %d, want 202", code)
	}
	start := time.Now()
	s.stop()
	if st := s.exit(t); st != 1 {
		t.Errorf("exit status %d, want 1 (a run was killed)", st)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("drain took %s", d)
	}
	if got := runs(t, reg, "/hang", "canceled"); got != 1 {
		t.Errorf("canceled runs: %g, want 1", got)
	}
}

func runs(t *testing.T, reg *prometheus.Registry, fn, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "mitosis_function_runs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["function"] == fn && l["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
