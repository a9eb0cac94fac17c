package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// dockerRoot: the docker driver leaves no clone behind its root container.
// A root with clones is stopped (docker stop): the clones drain and are
// removed with it. Started again, grown again, then killed (docker kill:
// it cannot say anything): the clones notice the root is gone and retire
// themselves after the grace. Killed and started again at once: the
// restarted root adopts the clones it finds (its container id is
// unchanged).
func dockerRoot(h *harness) {
	t := h.t
	network, root := h.stack+"_rootnet", h.stack+"_orphans"
	h.mustDocker("network", "create", "--label", "mitosis.e2e="+h.stack, network)
	group := func(all bool) []string {
		args := []string{"ps", "-q", "--filter", "label=" + spawner.LabelGroup + "=" + root}
		if all {
			args = append(args, "-a")
		}
		out, err := h.docker(args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(out)
	}
	t.Cleanup(func() {
		if ids := group(true); len(ids) > 0 {
			_, _ = h.docker(append([]string{"rm", "-f"}, ids...)...)
		}
		_, _ = h.docker("rm", "-f", root)
		_, _ = h.docker("network", "rm", network)
	})
	// A long scale-down delay: clones leave only because their root does.
	env := []string{
		"MITOSIS_DRIVER=docker", "MITOSIS_TICK=1s", "MITOSIS_STABLE_WINDOW=10s", "MITOSIS_PANIC_WINDOW=2s",
		"MITOSIS_SCALE_DOWN_DELAY=10m", "MITOSIS_TARGET_CONCURRENCY=4", "MITOSIS_MAX_INFLIGHT=8",
		"MITOSIS_MAX_REPLICAS=3", "MITOSIS_SYNC_INTERVAL=1s", "MITOSIS_DRAIN_DELAY=1s", "MITOSIS_DRAIN_TIMEOUT=5s",
	}
	args := []string{"run", "-d", "--name", root, "--network", network, "--label", "mitosis.e2e=" + h.stack,
		"-v", "/var/run/docker.sock:/var/run/docker.sock"}
	for _, e := range env {
		args = append(args, "-e", e)
	}
	h.mustDocker(append(args, h.image)...)

	// until polls the group every 500 ms until ok, and returns how long
	// it took.
	until := func(what string, timeout time.Duration, ok func(running, all int) bool) time.Duration {
		t.Helper()
		start := time.Now()
		var r, a int
		if eventually(timeout, 500*time.Millisecond, func() bool {
			r, a = len(group(false)), len(group(true))
			return ok(r, a)
		}) != nil {
			logs, _ := run(context.Background(), time.Minute, nil, "sh", "-c", "docker logs --tail 40 "+root+" 2>&1")
			t.Fatalf("%s: %d clones running, %d in all after %s; root's log:\n%s", what, r, a, timeout, logs)
		}
		return time.Since(start)
	}
	grow := func(tag string) int {
		t.Helper()
		step := h.startLoadOn(network, tag, "-url", "http://"+root+":8080/work?ms=200", "-c", "16", "-d", "60s", "-keepalive=false")
		until("scale up", 45*time.Second, func(r, _ int) bool { return r >= 2 })
		_ = step.stop()
		return len(group(false))
	}

	n := grow("orphans1")
	stopped := time.Now()
	h.mustDocker("stop", "-t", "30", root)
	stop := time.Since(stopped)
	took := stop + until("clones retired with the stopped root", 30*time.Second, func(_, all int) bool { return all == 0 })
	t.Logf("docker stop of the root with %d clones: took %s, all clones gone %s after it began",
		n, stop.Round(100*time.Millisecond), took.Round(100*time.Millisecond))

	h.mustDocker("start", root)
	n = grow("orphans2")
	h.mustDocker("kill", root)
	took = until("clones retired after the root was killed", 60*time.Second, func(_, all int) bool { return all == 0 })
	t.Logf("docker kill of the root with %d clones: all clones gone %s later (grace %s)",
		n, took.Round(100*time.Millisecond), spawner.DefaultDockerConfig().RootGrace)

	h.mustDocker("start", root)
	n = grow("orphans3")
	h.mustDocker("kill", root)
	h.mustDocker("start", root)
	// The restarted root counts the clones it adopted in its Status.
	var body string
	var err error
	if eventually(30*time.Second, time.Second, func() bool {
		body, err = h.getOn(network, "http://"+root+":9090/_mitosis/state")
		var st struct {
			Replicas struct {
				Desired int `json:"desired"`
			} `json:"replicas"`
		}
		return err == nil && json.Unmarshal([]byte(body), &st) == nil && st.Replicas.Desired == 1+n
	}) != nil {
		t.Fatalf("the restarted root does not count its %d clones (state %q, err %v)", n, body, err)
	}
	// Past the grace the adopted clones are still there: the root came
	// back in time. (Waiting is the point here: nothing is to happen.)
	time.Sleep(spawner.DefaultDockerConfig().RootGrace + 3*time.Second)
	if r := len(group(false)); r != n {
		t.Fatalf("%d of the %d adopted clones run after the grace", r, n)
	}
	t.Logf("docker kill and start of the root: its %d clones adopted", n)
}
