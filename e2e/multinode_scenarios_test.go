package e2e

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// The scenarios of TestMultiNode. Load comes from loadgen containers on
// node 1, on the stack's overlay network, through the service name (DNS
// round robin over the tasks; a new connection per request, so every
// replica gets clients of its own). With -by-addr the load counts each
// failure under the address its connection went to: a request whose
// connection ended on a lost node can fail (it is counted and printed);
// one that entered anywhere else must not, even when it was forwarded to
// a replica on the lost node (a GET is retried on a sibling).

func (m *mn) svc() string { return "http://" + m.service + ":8080" }

// scaleSpread: from one replica, a load step grows the tier to at least
// four replicas on every node (stack.yml's spread preference), and after
// it the tier shrinks back to one; neither the step nor a light load
// running throughout loses a request.
func scaleSpread(m *mn) {
	t := m.t
	bg := m.startLoad("mnbg", "-url", m.svc()+"/work?ms=20", "-c", "2", "-d", "10m", "-keepalive=false", "-timeout", "5s")
	step := m.startLoad("mnstep", "-url", m.svc()+"/work?ms=200", "-c", "20", "-d", "50s", "-keepalive=false", "-timeout", "5s")
	run, took := m.waitTasks("scale up", 2*time.Minute, func(run []swarmTask) bool {
		return len(run) >= 4 && len(perNode(run)) == m.c.n
	})
	m.note("1 → %d replicas in %s, by node %v", len(run), took.Round(time.Second), perNode(run))
	res := step.result()
	requireNoFailures(t, "load step", res)
	m.note("load step: %d requests, %d failed", res.Total, res.Total-res.OK)
	start := time.Now()
	if _, err := m.waitReplicas("scale down", 2*time.Minute, func(r, d int) bool { return r == 1 && d == 1 }); err != nil {
		t.Error(err)
	}
	m.note("back to 1 replica %s after the step ended", time.Since(start).Round(time.Second))
	bgRes := bg.stop()
	requireNoFailures(t, "background load", bgRes)
	m.note("background load through scale up and down: %d requests, %d failed", bgRes.Total, bgRes.Total-bgRes.OK)
}

// grow runs a steady load (`c` workers of 100 ms requests) until at least
// n replicas run and ok holds, and returns the load and the running tasks.
func (m *mn) grow(tag string, c, n int, ok func(run []swarmTask) bool) (*load, []swarmTask) {
	l := m.startLoad(tag, "-url", m.svc()+"/work?ms=100", "-c", fmt.Sprint(c), "-d", "10m", "-keepalive=false", "-by-addr")
	run, _ := m.waitTasks("grow", 2*time.Minute, func(run []swarmTask) bool { return len(run) >= n && ok(run) })
	return l, run
}

// hasOn is a grow condition: a replica runs on node i.
func hasOn(i int) func(run []swarmTask) bool {
	return func(run []swarmTask) bool {
		ts, _ := on(run, i)
		return len(ts) > 0
	}
}

// on returns the tasks on node i and their addresses.
func on(run []swarmTask, i int) (ts []swarmTask, ips map[string]bool) {
	ips = map[string]bool{}
	for _, x := range run {
		if x.Node == i {
			ts = append(ts, x)
			ips[x.IP] = true
		}
	}
	return ts, ips
}

// poolExcludes polls replica `from` until none of the addresses in gone is
// a ready member of its pool, and returns how long that took after since.
func (m *mn) poolExcludes(from swarmTask, gone map[string]bool, since time.Time, timeout time.Duration) time.Duration {
	m.t.Helper()
	var err error
	if eventually(timeout, 200*time.Millisecond, func() bool {
		var st mnState
		if st, err = m.state(from.IP); err != nil {
			return false
		}
		for _, mb := range st.Members {
			if host, _, _ := net.SplitHostPort(mb.AdminAddr); gone[host] && mb.State == "ready" {
				return false
			}
		}
		return true
	}) != nil {
		m.t.Fatalf("%s still has a ready member among %v after %s (err %v)", from.Name, gone, timeout, err)
	}
	return time.Since(since)
}

// where names each running task's node and address, for the notes.
func where(run []swarmTask) string {
	var out []string
	for _, x := range run {
		out = append(out, fmt.Sprintf("node%d:%s", x.Node, x.IP))
	}
	return strings.Join(out, " ")
}

// checkLostOnly fails the scenario when a request that did not end on the
// lost replicas failed, and notes the counts.
func (m *mn) checkLostOnly(what string, res loadResult, lost map[string]bool) {
	onLost, elsewhere, where := failuresOn(res, lost)
	m.note("%s: %d requests, %d failed with their connection on the lost replicas, %d failed elsewhere", what, res.Total, onLost, elsewhere)
	if res.Total == 0 {
		m.t.Errorf("%s: no request completed", what)
	}
	if elsewhere > 0 {
		m.t.Errorf("%s: %d requests failed that did not end on the lost replicas (%s); first failure: %s",
			what, elsewhere, strings.Join(where, ", "), res.FirstFail)
	}
}

// nodeLost: under load, with replicas on every node, node i is lost
// (its dockerd, containerd and tasks are killed). The replicas left drop
// the lost ones from their pool within the health rule; Swarm notices the
// node is down and starts their replacements elsewhere, and the tier is
// back at its count. Only requests whose connection ended on the lost
// node may fail. The node then comes back for the next scenarios.
func nodeLost(m *mn, i int) {
	t := m.t
	l, _ := m.grow("mnlost", 12, 4, func(run []swarmTask) bool { return hasOn(i)(run) && len(perNode(run)) == m.c.n })
	// Let the load reach every replica, forwards between siblings too:
	// a window, not a wait.
	time.Sleep(3 * time.Second)
	run := runningTasks(m.tasks())
	lostTasks, lost := on(run, i)
	m.t.Logf("replicas when node %d is lost: %s", i, where(run))
	var survivor swarmTask
	for _, x := range run {
		if x.Node != i {
			survivor = x
			break
		}
	}
	stopped := time.Now()
	if err := m.c.stop(i); err != nil {
		t.Fatal(err)
	}
	out := m.poolExcludes(survivor, lost, stopped, time.Minute)
	m.note("node %d lost with %d of %d replicas; out of %s's pool after %s (health rule %s)",
		i, len(lostTasks), len(run), survivor.Name, out.Round(100*time.Millisecond), mnHealthRule)
	if out > mnHealthRule+2*time.Second {
		t.Errorf("the lost replicas left the pool after %s, more than the health rule %s and 2 s", out, mnHealthRule)
	}
	var down time.Duration
	m.waitTasks("reschedule", 3*time.Minute, func(run []swarmTask) bool {
		if down == 0 && m.c.nodeStatus(1, i) == "down" {
			down = time.Since(stopped)
		}
		return down > 0 && m.settled(run, i)
	})
	m.note("Swarm saw node %d down after %s; the tier was back at its count %s after the loss", i, down.Round(time.Second), (time.Since(stopped)).Round(time.Second))
	m.checkLostOnly("load through the loss", l.stop(), lost)
	if err := m.c.start(i); err != nil {
		t.Fatal(err)
	}
	if eventually(time.Minute, time.Second, func() bool { return m.c.nodeStatus(1, i) == "ready" }) != nil {
		t.Fatalf("node %d not ready again within a minute", i)
	}
}

// leaderLost: with three replicas or more, the one that acts (the leader)
// is killed while the load grows. Another replica leads within the health
// rule and two ticks, the tier scales up, and no two replicas act on the
// same tick.
func leaderLost(m *mn) {
	t := m.t
	l, _ := m.grow("mnlead", 8, 3, func([]swarmTask) bool { return true })
	// The one replica that says it leads (each asked once per round).
	var leader swarmTask
	var claims []string
	if eventually(30*time.Second, time.Second, func() bool {
		claims = nil
		for _, x := range runningTasks(m.tasks()) {
			if st, err := m.state(x.IP); err == nil && st.Replicas.Leader {
				leader, claims = x, append(claims, x.Name)
			}
		}
		return len(claims) == 1
	}) != nil {
		t.Fatalf("want one replica that leads, have %v", claims)
	}
	_, before, _ := m.replicas()
	killed := time.Now()
	if _, err := m.c.dk(leader.Node, "kill", leader.Container); err != nil {
		t.Fatal(err)
	}
	step := m.startLoad("mnlead2", "-url", m.svc()+"/work?ms=200", "-c", "12", "-d", "40s", "-keepalive=false", "-by-addr")
	// decisions reads every decision the replicas left made since the
	// kill, oldest first (each keeps its last 50).
	type act struct {
		id     string
		at     time.Time
		leader bool
		acted  bool
	}
	decisions := func() []act {
		var acts []act
		for _, x := range runningTasks(m.tasks()) {
			if x.Name == leader.Name {
				continue
			}
			st, err := m.state(x.IP)
			if err != nil {
				continue
			}
			for _, d := range st.Decisions {
				if d.Time.After(killed) {
					acts = append(acts, act{id: st.ID, at: d.Time, leader: d.Leader, acted: d.Acted})
				}
			}
		}
		slices.SortFunc(acts, func(a, b act) int { return a.at.Compare(b.at) })
		return acts
	}
	var lead time.Time
	var newLeader string
	if eventually(30*time.Second, 500*time.Millisecond, func() bool {
		for _, a := range decisions() {
			if a.leader {
				lead, newLeader = a.at, a.id
				return true
			}
		}
		return false
	}) != nil {
		t.Fatalf("no replica led within 30 s after %s was killed", leader.Name)
	}
	m.waitTasks("scale up after the leader was lost", 90*time.Second, func(run []swarmTask) bool { return len(run) > before })
	acts := decisions()
	var acted time.Time
	for _, a := range acts {
		if a.acted && a.at.After(lead.Add(-time.Nanosecond)) {
			acted = a.at
			break
		}
	}
	m.note("leader %s killed: %s leads %s later (health rule %s + 2 ticks), first scale %s later",
		leader.Name, newLeader, lead.Sub(killed).Round(10*time.Millisecond), mnHealthRule, acted.Sub(killed).Round(10*time.Millisecond))
	if lead.Sub(killed) > mnHealthRule+2*mnTick {
		t.Errorf("a new leader took %s, more than the health rule and two ticks", lead.Sub(killed))
	}
	if acted.IsZero() {
		t.Errorf("the tier grew, but no decision the replicas kept says it acted")
	}
	for k := 1; k < len(acts); k++ {
		a, b := acts[k-1], acts[k]
		if a.acted && b.acted && a.id != b.id && b.at.Sub(a.at) < mnTick {
			t.Errorf("double scaling: %s and %s both scaled within a tick (%s, %s)", a.id, b.id, a.at, b.at)
		}
	}
	lost := map[string]bool{leader.IP: true}
	m.checkLostOnly("load step", step.result(), lost)
	m.checkLostOnly("steady load", l.stop(), lost)
}

// nodeDrained: under load, node i is drained (docker node update
// --availability drain): its replicas are shut down (drained) and started
// elsewhere; no request fails. The node is made active again.
func nodeDrained(m *mn, i int) {
	t := m.t
	l, run := m.grow("mndrain", 12, 4, hasOn(i))
	moved, _ := on(run, i)
	drained := time.Now()
	if _, err := m.c.dk(1, "node", "update", "--availability", "drain", m.c.nodeID(i)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = m.c.dk(1, "node", "update", "--availability", "active", m.c.nodeID(i)) })
	m.waitTasks("drain", 2*time.Minute, func(run []swarmTask) bool { return m.settled(run, i) && !m.nodeRuns(i) })
	m.note("node %d drained: its %d replicas stopped and replaced elsewhere after %s", i, len(moved), time.Since(drained).Round(time.Second))
	res := l.stop()
	requireNoFailures(t, "load through the drain", res)
	m.note("load through the drain: %d requests, %d failed", res.Total, res.Total-res.OK)
	if _, err := m.c.dk(1, "node", "update", "--availability", "active", m.c.nodeID(i)); err != nil {
		t.Error(err)
	}
}

// managerLost (three managers): under load node i, a manager, is lost.
// Swarm keeps its quorum (two of three), a replica on a manager left acts,
// and a load step scales the tier up; only requests whose connection
// ended on the lost node may fail.
func managerLost(m *mn, i int) {
	t := m.t
	l, run := m.grow("mnmgr", 8, 3, hasOn(i))
	_, lost := on(run, i)
	stopped := time.Now()
	if err := m.c.stop(i); err != nil {
		t.Fatal(err)
	}
	_, before, _ := m.replicas()
	step := m.startLoad("mnmgr2", "-url", m.svc()+"/work?ms=200", "-c", "16", "-d", "45s", "-keepalive=false", "-by-addr")
	m.waitTasks("scale up without node "+fmt.Sprint(i), 2*time.Minute, func(run []swarmTask) bool {
		return len(run) > before && m.settled(run, i)
	})
	_, after, _ := m.replicas()
	m.note("manager node %d lost: the tier scaled %d → %d on the nodes left, %s after the loss", i, before, after, (time.Since(stopped)).Round(time.Second))
	m.checkLostOnly("load step", step.result(), lost)
	m.checkLostOnly("steady load", l.stop(), lost)
}
