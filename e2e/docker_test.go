package e2e

import (
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// dockerDriver runs mitosis as a plain container (docker run, no Swarm
// service) with the Docker socket and MITOSIS_DRIVER=docker: under a load
// step it clones its own container, the clones find each other through
// the Engine API (discovery "docker") and take forwarded requests, and
// after the load they are retired and removed; no request fails.
func dockerDriver(h *harness) {
	t := h.t
	network, root := h.stack+"_plain", h.stack+"_root"
	h.mustDocker("network", "create", "--label", "mitosis.e2e="+h.stack, network)
	t.Cleanup(func() {
		if out, _ := h.docker("ps", "-aq", "--filter", "label="+spawner.LabelGroup+"="+root); strings.TrimSpace(out) != "" {
			_, _ = h.docker(append([]string{"rm", "-f"}, strings.Fields(out)...)...)
		}
		_, _ = h.docker("rm", "-f", root)
		_, _ = h.docker("network", "rm", network)
	})
	env := []string{
		"MITOSIS_DRIVER=docker", "MITOSIS_TICK=1s", "MITOSIS_STABLE_WINDOW=10s", "MITOSIS_PANIC_WINDOW=2s",
		"MITOSIS_SCALE_DOWN_DELAY=10s", "MITOSIS_TARGET_CONCURRENCY=4", "MITOSIS_MAX_INFLIGHT=8",
		"MITOSIS_MAX_REPLICAS=3", "MITOSIS_SYNC_INTERVAL=1s", "MITOSIS_DRAIN_DELAY=1s", "MITOSIS_DRAIN_TIMEOUT=5s",
	}
	args := []string{"run", "-d", "--name", root, "--network", network, "--label", "mitosis.e2e=" + h.stack,
		"-v", "/var/run/docker.sock:/var/run/docker.sock"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	h.mustDocker(append(args, h.image)...)
	clones := func() int {
		out, err := h.docker("ps", "-q", "--filter", "label="+spawner.LabelGroup+"="+root, "--filter", "status=running")
		if err != nil {
			t.Fatal(err)
		}
		return len(strings.Fields(out))
	}
	waitClones := func(what string, timeout time.Duration, ok func(n int) bool) int {
		var n int
		if eventually(timeout, time.Second, func() bool { n = clones(); return ok(n) }) != nil {
			logs, _ := h.docker("logs", "--tail", "30", root)
			t.Fatalf("%s: %d clones running after %s; root's log:\n%s", what, n, timeout, logs)
		}
		return n
	}
	svc := "http://" + root + ":8080"
	step := h.startLoadOn(network, "plainstep", "-url", svc+"/work?ms=200", "-c", "16", "-d", "40s", "-keepalive=false")
	peak := waitClones("scale up", 40*time.Second, func(n int) bool { return n >= 1 })
	res := step.result()
	requireNoFailures(t, "load step on the docker driver", res)
	if len(res.Replicas) < 2 {
		t.Errorf("the step saw replicas %v, want the root and at least one clone (discovery, forwarding)", res.Replicas)
	}
	waitClones("scale down", 90*time.Second, func(n int) bool { return n == 0 })
	if out, _ := h.docker("ps", "-aq", "--filter", "label="+spawner.LabelGroup+"="+root); strings.TrimSpace(out) != "" {
		t.Errorf("retired clones not removed: %s", out)
	}
	t.Logf("docker driver: %d clone(s) running at the first look; the step saw %d replicas", peak, len(res.Replicas))
}
