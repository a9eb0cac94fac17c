package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSwarm deploys the stack once and walks it through the scenarios in
// order; each step starts from the minimum of 2 replicas.
func TestSwarm(t *testing.T) {
	requireDocker(t)
	id := randomName()
	h := &harness{t: t, dir: t.TempDir(), image: "mitosis-e2e:" + id, stack: "e2e" + id}
	h.service, h.network = h.stack+"_web", h.stack+"_mitosis"
	t.Cleanup(h.cleanup)
	start := time.Now()
	t.Logf("building the image %s …", h.image) // progress (go test -v)
	h.build()
	t.Logf("%s: deploying stack %s …", time.Since(start).Round(time.Second), h.stack)
	h.deploy()
	if _, err := h.waitReplicas("deploy", 90*time.Second, func(r, d int) bool { return r == 2 && d == 2 }); err != nil {
		t.Fatal(err)
	}
	t.Logf("stack %s up after %s", h.stack, time.Since(start).Round(time.Second))
	svc := "http://" + h.service + ":8080"
	// E2E_RUN=<substring> runs only the matching scenarios (the
	// deploy is shared, so -run cannot select them cheaply).
	only := os.Getenv("E2E_RUN")
	sub := func(name string, f func(h *harness)) bool {
		if only != "" && !strings.Contains(name, only) {
			return true
		}
		t.Logf("%s: %s …", time.Since(start).Round(time.Second), name) // progress (go test -v)
		ok := t.Run(name, func(st *testing.T) {
			h.t = st
			st.Cleanup(func() {
				if st.Failed() {
					h.dump()
				}
			})
			f(h)
		})
		h.t = t
		t.Logf("%s: %s done (ok=%t)", time.Since(start).Round(time.Second), name, ok)
		return ok
	}
	sub("function containers", functionContainers)
	sub("docker driver", dockerDriver)
	sub("docker driver leaves no orphaned clones", dockerRoot)
	sub("guard: web holds no socket and is not root", guardLeastPrivilege)
	if !sub("scale up and down under a load step", func(h *harness) { scaleUpDown(h, svc) }) {
		return
	}
	sub("guard: attacks from a web task are refused", guardAttacks)
	sub("guard: killed under load", func(h *harness) { guardKilled(h, svc) })
	sub("kill a task under load", killTask)
	if _, err := h.waitReplicas("back to minimum", 2*time.Minute, func(r, d int) bool { return r == 2 && d == 2 }); err != nil {
		t.Fatal(err)
	}
	sub("frozen daemon", func(h *harness) {
		requireDestructive(h.t)
		frozenDaemon(h, svc)
	})
}

func requireNoFailures(t *testing.T, what string, r loadResult) {
	t.Helper()
	t.Logf("%s: %s", what, r)
	if r.Total == 0 {
		t.Errorf("%s: no request completed", what)
	}
	if r.OK != r.Total {
		t.Errorf("%s: %d of %d requests failed (%v %v), first: %s", what, r.Total-r.OK, r.Total, r.ByStatus, r.Errors, r.FirstFail)
	}
}

// scaleUpDown: a light background load runs throughout; a step of 16
// concurrent 200 ms requests (4 per replica wanted) must raise REPLICAS
// from 2 to at least 3, and after it REPLICAS fall back to 2; no request
// of either load fails.
func scaleUpDown(h *harness, svc string) {
	t := h.t
	bg := h.startLoad("bgA", "-url", svc+"/work?ms=20", "-c", "1", "-d", "10m", "-keepalive=false")
	step := h.startLoad("stepA", "-url", svc+"/work?ms=200", "-c", "16", "-d", "45s", "-keepalive=false")
	peak, err := h.waitReplicas("scale up", 75*time.Second, func(r, d int) bool { return r >= 3 })
	if err != nil {
		t.Error(err)
	}
	res := step.result()
	requireNoFailures(t, "load step", res)
	if _, err := h.waitReplicas("scale down", 2*time.Minute, func(r, d int) bool { return r == 2 && d == 2 }); err != nil {
		t.Error(err)
	}
	requireNoFailures(t, "background load", bg.stop())
	t.Logf("peak REPLICAS running %d; step saw %d distinct replicas", peak, len(res.Replicas))
}

func slot(name string) int {
	parts := strings.Split(name, ".")
	if len(parts) < 3 {
		return 1 << 30
	}
	n, err := strconv.Atoi(parts[len(parts)-2])
	if err != nil {
		return 1 << 30
	}
	return n
}

func sortedTasks(h *harness) []task {
	h.t.Helper()
	ts, err := h.tasks()
	if err != nil {
		h.t.Fatal(err)
	}
	slices.SortFunc(ts, func(a, b task) int { return slot(a.Name) - slot(b.Name) })
	return ts
}

// stateDoc is the part of /_mitosis/state the suite reads.
type stateDoc struct {
	ID       string  `json:"id"`
	Inflight int     `json:"inflight"`
	RPS      float64 `json:"rps"`
	Members  []struct {
		ID        string `json:"id"`
		AdminAddr string `json:"admin_addr"`
		State     string `json:"state"`
	} `json:"members"`
}

// killTask: load enters through the lowest-slot task (more than it takes
// locally, so it forwards to siblings); the next task's container is
// killed. No GET may fail (the entry retries GETs elsewhere), and Swarm's
// replacement task must show up ready in the entry's member table. The
// load makes the tier scale meanwhile: when a scale-down takes the
// victim's slot away before its replacement runs (Swarm removes tasks
// that do not run first), a task the tier started instead stands for it.
func killTask(h *harness) {
	t := h.t
	ts := sortedTasks(h)
	if len(ts) < 2 {
		t.Fatalf("need 2 tasks, have %v", ts)
	}
	entry, victim := ts[0], ts[1]
	old := map[string]bool{}
	for _, x := range ts {
		old[x.Name] = true
	}
	bg := h.startLoad("bgB", "-url", "http://"+entry.IP+":8080/work?ms=50", "-c", "12", "-d", "10m")
	h.waitServing(entry.IP+":9090", 30*time.Second)
	t.Logf("entry %s (%s), killing %s (%s)", entry.Name, entry.IP, victim.Name, victim.IP)
	h.mustDocker("kill", victim.Container)

	joined := ""
	_ = eventually(90*time.Second, 2*time.Second, func() bool {
		cur, err := h.tasks()
		if err != nil {
			return false
		}
		body, err := h.get("http://" + entry.IP + ":9090/_mitosis/state")
		if err != nil {
			return false
		}
		var st stateDoc
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("state of %s: %v: %q", entry.Name, err, body)
		}
		slotGone := !h.slotWanted(slot(victim.Name))
		for _, x := range cur {
			// The replacement takes the victim's slot (a scale-up would
			// add new slots), unless the slot was scaled away.
			if old[x.Name] || x.IP == "" || slot(x.Name) != slot(victim.Name) && !slotGone {
				continue
			}
			for _, m := range st.Members {
				if m.AdminAddr == x.IP+":9090" && m.State == "ready" {
					joined = x.Name
					if slot(x.Name) != slot(victim.Name) {
						joined += " (a scale-down took the victim's slot away first)"
					}
				}
			}
		}
		return joined != ""
	})
	// The load goes on across the replacement's first seconds in the pool:
	// a request lost then would show in the count. A window, not a wait.
	time.Sleep(3 * time.Second)
	requireNoFailures(t, "load through "+entry.Name, bg.stop())
	if joined == "" {
		t.Errorf("no replacement task of %s became a ready member of %s within 90s", victim.Name, entry.Name)
	} else {
		t.Logf("replacement %s joined the pool of %s", joined, entry.Name)
	}
}

// frozenDaemon: SIGSTOP dockerd for 20 s under load (Swarm has no
// live-restore: a stopped dockerd would kill the containers; frozen, they
// keep running under containerd while the API and the embedded DNS hang).
// Serving must not stop while frozen; after the thaw (and Swarm's own
// reaction to it) a load step must scale up again.
func frozenDaemon(h *harness, svc string) {
	t := h.t
	ts := sortedTasks(h)
	if len(ts) == 0 {
		t.Fatal("no task")
	}
	entry := ts[0]
	pidOut, err := exec.Command("pidof", "dockerd").Output()
	if err != nil {
		t.Fatalf("pidof dockerd: %v", err)
	}
	pid := strings.Fields(string(pidOut))[0]
	// Whatever happens to this test process, dockerd is thawed: a detached
	// watchdog, and a cleanup.
	watchdog := exec.Command("sh", "-c", "sleep 45; kill -CONT "+pid)
	watchdog.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := watchdog.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = watchdog.Wait() }()
	thaw := func() { _ = exec.Command("kill", "-CONT", pid).Run() }
	t.Cleanup(thaw)

	// Keep-alive connections to a task address: no DNS needed while frozen.
	bg := h.startLoad("bgC", "-url", "http://"+entry.IP+":8080/work?ms=20", "-c", "2", "-d", "10m")
	h.waitServing(entry.IP+":9090", 30*time.Second)
	t.Logf("freezing dockerd (pid %s) for 20s", pid)
	if err := exec.Command("kill", "-STOP", pid).Run(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Second) // the freeze itself: how long the daemon stays stopped
	thaw()
	_ = watchdog.Process.Kill()
	if _, err := run(t.Context(), time.Minute, nil, "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Fatalf("daemon did not come back: %v", err)
	}
	// The load goes on for a moment after the thaw, while the daemon
	// catches up: a window, not a wait.
	time.Sleep(3 * time.Second)
	requireNoFailures(t, "load during the freeze", bg.stop())

	// Swarm fact (20.10, single node): after a freeze of this length the
	// agent's session is gone ("node not registered"), it registers again
	// and the orchestrator replaces every task of the node at once
	// (SIGTERM, drain). Wait for that to settle and for the service name to
	// answer, then check that scaling works.
	if _, err := h.waitReplicas("settle after the thaw", 90*time.Second, func(r, d int) bool { return r == d && r >= 2 }); err != nil {
		t.Fatal(err)
	}
	var getErr error
	if eventually(60*time.Second, time.Second, func() bool { _, getErr = h.get(svc + "/"); return getErr == nil }) != nil {
		t.Fatalf("service name does not answer after the thaw: %v", getErr)
	}
	if ps, err := h.docker("service", "ps", "--filter", "desired-state=shutdown", "-q", h.service); err == nil {
		t.Logf("tasks shut down by Swarm so far (kill test and thaw included): %d", len(strings.Fields(ps)))
	}
	step := h.startLoad("stepC", "-url", svc+"/work?ms=200", "-c", "16", "-d", "40s", "-keepalive=false")
	if _, err := h.waitReplicas("scale up after the thaw", 75*time.Second, func(r, d int) bool { return r >= 3 }); err != nil {
		t.Error(err)
	}
	requireNoFailures(t, "load step after the thaw", step.result())
}

// slotWanted reports whether the service still wants a task in slot n
// (one with desired state running); true when it cannot tell.
func (h *harness) slotWanted(n int) bool {
	out, err := h.docker("service", "ps", "--filter", "desired-state=running", "--format", "{{.Name}}", h.service)
	if err != nil {
		return true
	}
	for _, name := range strings.Fields(out) {
		// service ps names tasks <service>.<slot>
		if i := strings.LastIndex(name, "."); i >= 0 {
			if k, err := strconv.Atoi(name[i+1:]); err == nil && k == n {
				return true
			}
		}
	}
	return false
}
