package integration

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// driverEnv makes the process driver react within seconds: 500ms ticks,
// windows of a few seconds, at most 4 replicas.
var driverEnv = []string{
	"MITOSIS_DRIVER=process",
	"MITOSIS_TICK=500ms",
	"MITOSIS_STABLE_WINDOW=4s",
	"MITOSIS_PANIC_WINDOW=1s",
	"MITOSIS_SCALE_DOWN_DELAY=3s",
	"MITOSIS_TARGET_CONCURRENCY=5",
	"MITOSIS_MAX_INFLIGHT=8",
	"MITOSIS_MAX_REPLICAS=4",
	"MITOSIS_SYNC_INTERVAL=250ms",
	"MITOSIS_HEALTH_TIMEOUT=200ms",
	"MITOSIS_DRAIN_DELAY=300ms",
	"MITOSIS_DRAIN_TIMEOUT=3s",
}

// pidSet remembers every child pid seen, so the end of a test can check
// that none survived (an orphan is reparented and no longer shows up as a
// child of the parent).
type pidSet struct {
	mu   sync.Mutex
	pids map[int]bool
}

func (s *pidSet) sample(parent int) int {
	kids := childrenOf(parent)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pids == nil {
		s.pids = map[int]bool{}
	}
	for _, k := range kids {
		s.pids[k] = true
	}
	return len(kids)
}

func (s *pidSet) alive() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for p := range s.pids {
		if alive(p) {
			out = append(out, p)
		}
	}
	sort.Ints(out)
	return out
}

// killAll is the cleanup of last resort: no test leaves a child behind,
// whatever failed.
func (s *pidSet) killAll() {
	for _, p := range s.alive() {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// TestProcessDriverScales: load on the parent makes it start child
// replicas that take forwarded work; when the load stops it scales back to
// one; SIGTERM leaves no process behind.
func TestProcessDriverScales(t *testing.T) {
	integration(t)
	var kids pidSet
	t.Cleanup(kids.killAll)
	p := startReady(t, "par", driverEnv)
	ppid := p.cmd.Process.Pid

	stopSampling := make(chan struct{})
	sampled := make(chan int)
	go func() {
		most := 0
		for {
			most = max(most, kids.sample(ppid))
			select {
			case <-stopSampling:
				sampled <- most
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	rs := runLoad(loadClient(t), 40, 6*time.Second, nil, func(int, int) string { return p.pubURL("/work?ms=100") })
	by := tally(t, rs)
	t.Logf("%d requests: %v", len(rs), by)
	if len(by) < 3 {
		t.Errorf("%d distinct replicas answered (%v), want at least 3", len(by), by)
	}
	if by["par"] == 0 {
		t.Error("the parent served nothing itself")
	}

	// Back to one replica once the load is gone.
	var desired []int
	waitFor(t, 15*time.Second, "replicas.desired to return to 1", func() bool {
		s, err := p.state(nil)
		if err != nil || s.Replicas == nil {
			return false
		}
		if len(desired) == 0 || desired[len(desired)-1] != s.Replicas.Desired {
			desired = append(desired, s.Replicas.Desired)
		}
		return s.Replicas.Driver == "process" && s.Replicas.Desired == 1
	})
	t.Logf("desired replicas over time: %v", desired)
	close(stopSampling)
	most := <-sampled
	if most < 2 {
		t.Errorf("at most %d child processes seen, want at least 2", most)
	}
	// Retired children drain and exit.
	waitFor(t, 5*time.Second, "the retired children to exit", func() bool { return len(kids.alive()) == 0 })

	p.signal(syscall.SIGTERM)
	if status := p.waitExit(6 * time.Second); status != 0 {
		t.Errorf("parent exited %d, want 0", status)
	}
	if left := kids.alive(); len(left) > 0 {
		t.Errorf("child processes %v still running after the parent exited", left)
	}
}

// TestProcessDriverStopsChildrenOnSIGTERM: with MITOSIS_MIN_REPLICAS=3 the
// parent starts two children at once; SIGTERM to the parent drains them
// all, and the parent exits 0 with no child left.
func TestProcessDriverStopsChildrenOnSIGTERM(t *testing.T) {
	integration(t)
	var kids pidSet
	t.Cleanup(kids.killAll)
	p := startReady(t, "minr", append(append([]string{}, driverEnv...), "MITOSIS_MIN_REPLICAS=3"))
	ppid := p.cmd.Process.Pid
	waitFor(t, 10*time.Second, "3 running replicas", func() bool {
		kids.sample(ppid)
		s, err := p.state(nil)
		return err == nil && s.Replicas != nil && s.Replicas.Running == 3 && seesReady(p, "minr-1", "minr-2")
	})
	if n := kids.sample(ppid); n != 2 {
		t.Fatalf("%d child processes, want 2", n)
	}
	// The children serve forwarded work like any sibling: their own
	// readiness endpoints answer.
	s, _ := p.state(nil)
	for _, m := range s.Members {
		if code, _, err := get("http://"+m.AdminAddr+"/readyz", nil); err != nil || code != 200 {
			t.Errorf("child %s /readyz = %d %v", m.ID, code, err)
		}
	}
	p.signal(syscall.SIGTERM)
	if status := p.waitExit(8 * time.Second); status != 0 {
		t.Errorf("parent exited %d, want 0", status)
	}
	if left := kids.alive(); len(left) > 0 {
		t.Errorf("child processes %v still running after the parent exited", left)
	}
}

// TestTargetsListEveryReplica: /_mitosis/targets gives Prometheus' HTTP
// service discovery the admin address of every replica the process driver
// started, the parent's first; they answer /metrics.
func TestTargetsListEveryReplica(t *testing.T) {
	integration(t)
	var kids pidSet
	t.Cleanup(kids.killAll)
	p := startReady(t, "sd", append(append([]string{}, driverEnv...), "MITOSIS_MIN_REPLICAS=3"))
	kids.sample(p.cmd.Process.Pid)
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	var groups []group
	waitFor(t, 15*time.Second, "three targets", func() bool {
		kids.sample(p.cmd.Process.Pid)
		code, body, err := get(p.adminURL("/_mitosis/targets"), nil)
		if err != nil || code != 200 || json.Unmarshal([]byte(body), &groups) != nil {
			return false
		}
		named := 0
		for _, g := range groups {
			if len(g.Targets) == 1 && g.Labels["mitosis_replica"] != "" && g.Labels["mitosis_replica"] != g.Targets[0] {
				named++
			}
		}
		return len(groups) == 3 && named == 3
	})
	if groups[0].Targets[0] != p.admin || groups[0].Labels["mitosis_replica"] != "sd" {
		t.Errorf("first group %+v, want the parent %s", groups[0], p.admin)
	}
	// A child is listed from its start, before it listens (Prometheus
	// retries a scrape that fails): each target must answer soon after.
	for _, g := range groups {
		waitFor(t, 15*time.Second, "/metrics of "+g.Labels["mitosis_replica"]+" at "+g.Targets[0], func() bool {
			code, body, err := get("http://"+g.Targets[0]+"/metrics", nil)
			return err == nil && code == 200 && strings.Contains(body, "mitosis_build_info{")
		})
	}
}
