package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// votingOverride tunes examples/voting/stack.yml for a short test: fast
// ticks and windows, and DNS round robin for the web tier (this machine
// has no IPVS); the published port is dropped (load comes from inside the
// overlay).
const votingOverride = `version: "3.8"
services:
  web:
    environment:
      MITOSIS_TICK: 1s
      MITOSIS_STABLE_WINDOW: 10s
      MITOSIS_PANIC_WINDOW: 2s
      MITOSIS_SCALE_DOWN_DELAY: 20s
      MITOSIS_TARGET_CONCURRENCY: "4"
      MITOSIS_MAX_REPLICAS: "4"
      MITOSIS_SYNC_INTERVAL: 1s
      MITOSIS_DRAIN_DELAY: 2s
      MITOSIS_DRAIN_TIMEOUT: 15s
    healthcheck:
      interval: 2s
      start_period: 2s
    stop_grace_period: 20s
    deploy:
      endpoint_mode: dnsrr
      labels:
        mitosis.e2e: "true"
  store:
    healthcheck:
      interval: 2s
`

// votingResult is the JSON line of `voting voters`.
type votingResult struct {
	Recorded int            `json:"votes_recorded"`
	Failed   int            `json:"votes_failed"`
	Retries  int            `json:"retries"`
	Statuses map[string]int `json:"statuses"`
	Got      map[string]int `json:"got"`
	Matched  bool           `json:"matched"`
	MatchMS  int64          `json:"match_after_ms"`
	Replicas []string       `json:"replicas"`
	Elapsed  int64          `json:"elapsed_ms"`
	First    string         `json:"first_failure"`
}

// TestVoting deploys examples/voting on the real Swarm: 150 voters vote
// twice at once (the second vote changing the first) through the web
// tier while it scales; every vote is recorded by its own function
// container, run by the guard (the web tier has no socket),
// /result/votes reports exactly a=100 b=50 within 30 s, and no function
// container is left.
func TestVoting(t *testing.T) {
	requireDocker(t)
	id := randomName()
	h := &harness{t: t, dir: t.TempDir(), image: "voting-e2e:" + id, stack: "votinge2e" + id}
	h.service, h.network = h.stack+"_web", h.stack+"_votes"
	t.Cleanup(func() {
		h.cleanup()
		h.removeGuardSecret()
		_, _ = h.docker("volume", "rm", h.stack+"_votes-data")
	})
	start := time.Now()
	buildStatic(t, h.dir, "voting", "./examples/voting")
	dockerfile, err := os.ReadFile("../examples/voting/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	buildImage(t, h.dir, string(dockerfile), h.image)
	override := filepath.Join(h.dir, "e2e.yml")
	if err := os.WriteFile(override, []byte(votingOverride), 0o644); err != nil {
		t.Fatal(err)
	}
	h.createGuardSecret()
	merged, err := run(context.Background(), time.Minute, []string{"VOTING_IMAGE=" + h.image, "VOTING_NETWORK=" + h.network,
		"VOTING_GUARD_SECRET=" + h.guardSecret()},
		"docker", "stack", "config", "-c", "../examples/voting/stack.yml", "-c", override)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(h.dir, "stack.e2e.yml")
	if err := os.WriteFile(file, []byte(dropBlock(merged, "ports:")), 0o644); err != nil {
		t.Fatal(err)
	}
	h.mustDocker("stack", "deploy", "--resolve-image", "never", "--prune", "-c", file, h.stack)
	if _, err := h.waitReplicas("deploy", 2*time.Minute, func(r, d int) bool { return r == 2 && d == 2 }); err != nil {
		t.Fatal(err)
	}
	t.Logf("stack %s up after %s", h.stack, time.Since(start).Round(time.Second))
	// The web tier holds no socket and is not root: its function
	// containers go through the guard.
	spec := h.mustDocker("service", "inspect", "--format",
		"{{json .Spec.TaskTemplate.ContainerSpec.Mounts}} {{.Spec.TaskTemplate.ContainerSpec.User}}", h.service)
	if strings.Contains(spec, "docker.sock") || !strings.Contains(spec, "65532") {
		t.Errorf("web service mounts and user: %s; want no socket and user 65532", spec)
	}

	// Watch REPLICAS and the function containers while the voters vote.
	stopWatch := watchPeak(500*time.Millisecond, func() (int, error) {
		r, _, err := h.replicas()
		return r, err
	})
	stopRuns := watchPeak(250*time.Millisecond, func() (int, error) {
		out, err := h.docker("ps", "-q", "--filter", "label="+spawner.LabelTaskGroup+"="+h.service)
		return len(strings.Fields(out)), err
	})
	out, err := run(context.Background(), 10*time.Minute, nil, "docker", "run", "--rm", "--label", "mitosis.e2e="+h.stack,
		"--network", h.network, "--entrypoint", "/voting", h.image, "voters", "-url", "http://web:8080", "-voters", "150", "-wait", "30s", "-timeout", "4m")
	peak, runs := stopWatch(), stopRuns()
	var res votingResult
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &res); jerr != nil {
		h.dump()
		t.Fatalf("voters: %v; output %q", err, out)
	}
	t.Logf("voters: %s", lines[len(lines)-1])
	t.Logf("REPLICAS peaked at %d during the votes; at most %d record containers seen at once", peak, runs)
	// 4 replicas at most, 2 record runs each (MITOSIS_FUNCTION_CONCURRENCY).
	if runs == 0 || runs > 8 {
		t.Errorf("saw %d record containers at once, want 1..8", runs)
	}
	if err != nil || res.Recorded != 300 || res.Failed != 0 || !res.Matched || res.Got["a"] != 100 || res.Got["b"] != 50 {
		h.dump()
		t.Errorf("votes: %d recorded, %d failed, tally %v (matched %t); want 300, 0, a=100 b=50 (first failure %q)",
			res.Recorded, res.Failed, res.Got, res.Matched, res.First)
	}
	if peak < 3 {
		t.Errorf("REPLICAS peaked at %d: the tier did not scale under the votes", peak)
	}
	left, err := h.docker("ps", "-aq", "--filter", "label="+spawner.LabelTaskGroup+"="+h.service)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(left) != "" {
		t.Errorf("function containers left: %s", left)
	}
	t.Logf("took %s in all", time.Since(start).Round(time.Second))
}
