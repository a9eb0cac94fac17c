package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/functions"
	"github.com/mitosis-run/mitosis/spawner"
)

// buildStatic compiles package pkg (relative to the repository root)
// into dir/out as a static Linux binary.
func buildStatic(t *testing.T, dir, out, pkg string) {
	t.Helper()
	if err := goBuildStatic(dir, out, pkg); err != nil {
		t.Fatal(err)
	}
}

// goBuildStatic builds package pkg of this module into dir/out as a static
// Linux binary.
func goBuildStatic(dir, out, pkg string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", filepath.Join(dir, out), pkg)
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// buildImage wraps dir's Dockerfile into image tag, labelled for cleanup.
func buildImage(t *testing.T, dir, dockerfile, tag string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	// The classic builder: BuildKit would try to resolve the frontend.
	if _, err := run(context.Background(), 3*time.Minute, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q",
		"--label", "mitosis.e2e=functions", "-t", tag, dir); err != nil {
		t.Fatal(err)
	}
}

type probeReport struct {
	Stdin      string            `json:"stdin"`
	Args       []string          `json:"args"`
	Env        map[string]string `json:"env"`
	UID        int               `json:"uid"`
	GID        int               `json:"gid"`
	CapEff     string            `json:"cap_eff"`
	NoNewPrivs string            `json:"no_new_privs"`
	RootWrite  string            `json:"root_write"`
	TmpWrite   string            `json:"tmp_write"`
	Interfaces []string          `json:"interfaces"`
}

// TestFunctionContainers runs function routes on the real daemon through
// the container runner: the request reaches the container as CGI
// variables and stdin and its stdout comes back as the response; the
// container is locked down (seen from inside); a burst never runs more
// containers than the cap; a run past its timeout is killed; a leftover
// is swept; nothing is left behind.
func TestFunctionContainers(t *testing.T) {
	requireDocker(t)
	id := randomName()
	dir := t.TempDir()
	image, network, group := "mitosis-functions-e2e:"+id, "functions-e2e-"+id, "functions-e2e-"+id
	docker := func(args ...string) (string, error) {
		return run(context.Background(), 2*time.Minute, nil, "docker", args...)
	}
	t.Cleanup(func() {
		if out, _ := docker("ps", "-aq", "--filter", "label="+spawner.LabelTaskGroup+"="+group); strings.TrimSpace(out) != "" {
			t.Errorf("function containers left behind: %s", out)
			_, _ = docker(append([]string{"rm", "-f"}, strings.Fields(out)...)...)
		}
		_, _ = docker("network", "rm", network)
		_, _ = docker("rmi", "-f", image)
	})
	buildStatic(t, dir, "fnprobe", "./e2e/fnprobe")
	buildImage(t, dir, "FROM scratch\nCOPY fnprobe /fnprobe\nENTRYPOINT [\"/fnprobe\"]\n", image)
	if _, err := docker("network", "create", "--label", "mitosis.e2e=functions", network); err != nil {
		t.Fatal(err)
	}
	e, err := spawner.NewEngine(spawner.DefaultEngineConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	newSet := func(net string, routes string, mut func(*functions.Config)) (*functions.Set, string) {
		cfg := functions.DefaultConfig()
		cfg.Functions, err = functions.ParseRoutes(routes)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Network = net
		if mut != nil {
			mut(&cfg)
		}
		tc := cfg.TaskConfig()
		tc.Owner, tc.Group = "functions-e2e-owner-"+id, group
		tasks, err := spawner.NewTasks(e, tc)
		if err != nil {
			t.Fatal(err)
		}
		s, err := functions.New(cfg, functions.Runners{Image: &functions.ContainerRunner{Tasks: tasks, Network: net}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler(http.NotFoundHandler()))
		t.Cleanup(srv.Close)
		return s, srv.URL
	}
	_, url := newSet("none", fmt.Sprintf("/probe=%s probe fixed-arg,/sleep=%s sleep 1500,/hang=%s sleep 600000,/fail=%s fail",
		image, image, image, image), func(c *functions.Config) {
		// The run timeout leaves room for a slow daemon: create and start
		// took over a second each on a busy machine, on top of the 1.5 s
		// sleep (a 3 s timeout answered 504 there).
		c.Concurrency, c.QueueMax, c.QueueTimeout, c.Timeout = 2, 10, time.Minute, 8*time.Second
	})
	_, netURL := newSet(network, "/probe="+image, nil)

	// The request in, the response out; the sandbox as seen from inside.
	probe := func(url string) probeReport {
		req, _ := http.NewRequest("POST", url+"/probe/sub?q=1", strings.NewReader("vote=b"))
		req.Header.Set("X-Voter", "v42")
		req.Header.Set("Privileged", "true")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r probeReport
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &r) != nil {
			t.Fatalf("probe: %s %v %q", resp.Status, resp.Header, b)
		}
		return r
	}
	r := probe(url)
	if r.Stdin != "vote=b" || !slices.Equal(r.Args, []string{"probe", "fixed-arg"}) || r.Env["PATH_INFO"] != "/sub" ||
		r.Env["QUERY_STRING"] != "q=1" || r.Env["HTTP_X_VOTER"] != "v42" || r.Env["HTTP_PRIVILEGED"] != "true" ||
		r.Env["CONTENT_LENGTH"] != "6" || r.Env["REQUEST_METHOD"] != "POST" {
		t.Errorf("request as seen by the function: %+v", r)
	}
	if r.UID != 65534 || r.GID != 65534 || strings.Trim(r.CapEff, "0") != "" || r.NoNewPrivs != "1" ||
		!strings.Contains(r.RootWrite, "read-only") || r.TmpWrite != "" || !slices.Equal(r.Interfaces, []string{"lo"}) {
		t.Errorf("sandbox: uid %d gid %d CapEff %s NoNewPrivs %s root write %q tmp write %q interfaces %v; "+
			"want 65534, 65534, 0, 1, read-only, ok, [lo]", r.UID, r.GID, r.CapEff, r.NoNewPrivs, r.RootWrite, r.TmpWrite, r.Interfaces)
	}
	if r := probe(netURL); len(r.Interfaces) != 2 {
		t.Errorf("on network %s: interfaces %v, want lo and one more", network, r.Interfaces)
	}

	// A failing function: 502, its stderr stays out of the response.
	if code, body := get(t, url+"/fail"); code != 502 || strings.Contains(body, "purpose") {
		t.Errorf("fail: %d %q, want 502 without the stderr", code, body)
	}

	// A burst of 6 on 2 slots: all served, never more than 2 containers.
	stopWatch := watchPeak(100*time.Millisecond, func() (int, error) {
		out, err := docker("ps", "-q", "--filter", "label="+spawner.LabelTaskGroup+"="+group)
		return len(strings.Fields(out)), err
	})
	start := time.Now()
	codes := make(chan int, 6)
	for range 6 {
		go func() { code, _ := get(t, url+"/sleep"); codes <- code }()
	}
	for range 6 {
		if c := <-codes; c != 200 {
			t.Errorf("burst: status %d, want 200", c)
		}
	}
	peak := stopWatch()
	t.Logf("burst of 6 on 2 slots (1.5 s each): %s, at most %d containers seen at once", time.Since(start).Round(time.Millisecond), peak)
	if peak > 2 || peak == 0 {
		t.Errorf("saw %d function containers at once, want 1..2", peak)
	}

	// Past its timeout: 504, the container killed and removed.
	start = time.Now()
	if code, _ := get(t, url+"/hang"); code != 504 {
		t.Errorf("hang: %d, want 504", code)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the timed-out run took %s to answer", d)
	}

	// A leftover of this owner (a crash before removal) is swept.
	if _, err := docker("create", "--label", spawner.LabelTask+"=1", "--label", spawner.LabelTaskOwner+"=functions-e2e-owner-"+id,
		"--label", spawner.LabelTaskGroup+"="+group, image); err != nil {
		t.Fatal(err)
	}
	tc := functions.DefaultConfig().TaskConfig()
	tc.Owner, tc.Group = "functions-e2e-owner-"+id, group
	tasks, _ := spawner.NewTasks(e, tc)
	if n, err := tasks.Sweep(context.Background()); err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want 1", n, err)
	}
	if out, _ := docker("ps", "-aq", "--filter", "label="+spawner.LabelTaskGroup+"="+group); strings.TrimSpace(out) != "" {
		t.Errorf("containers left: %s", out)
	}
}

// watchPeak polls count every interval until the returned stop is
// called, which gives the highest count seen.
func watchPeak(interval time.Duration, count func() (int, error)) (stop func() int) {
	done := make(chan struct{})
	result := make(chan int, 1)
	go func() {
		peak := 0
		for {
			if n, err := count(); err == nil {
				peak = max(peak, n)
			}
			select {
			case <-done:
				result <- peak
				return
			case <-time.After(interval): // polling interval
			}
		}
	}()
	return func() int {
		close(done)
		return <-result
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
