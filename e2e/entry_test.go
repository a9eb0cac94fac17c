package e2e

import (
	"bytes"
	"encoding/json"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostLoad is loadgen run on this machine (not in a container): load on a
// node's published port, as a client outside the Swarm sends it.
type hostLoad struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func (m *mn) hostLoad(args ...string) *hostLoad {
	m.t.Helper()
	l := &hostLoad{cmd: exec.Command(m.loadgen, args...)}
	l.cmd.Stdout = &l.out
	if err := l.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { _ = l.cmd.Process.Kill() })
	return l
}

// stop ends the load (SIGTERM: loadgen prints its result) and parses it.
func (l *hostLoad) stop(m *mn) loadResult {
	m.t.Helper()
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	_ = l.cmd.Wait()
	lines := strings.Split(strings.TrimSpace(l.out.String()), "\n")
	var res loadResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		m.t.Fatalf("loadgen: no result line in %q: %v", l.out.String(), err)
	}
	return res
}

// entryScales (stack.noipvs.yml on one node): load on the node's port
// 8080 reaches the entry, which forwards it to the web tier; the tier
// grows to at least three replicas that serve it (one node, one host
// port: the web tier has none). One web task is then killed under the
// load: the entry retries its requests on the others, none fails, and
// Swarm's replacement takes its place.
func entryScales(m *mn) {
	t := m.t
	url := "http://" + m.c.addr(1) + ":8080/work?ms=200"
	// The entry's task must be up before its port answers anything.
	if eventually(time.Minute, 500*time.Millisecond, func() bool {
		out, err := exec.Command(m.loadgen, "-get", "-timeout", "2s", "-url", url).Output()
		return err == nil && len(out) > 0
	}) != nil {
		t.Fatalf("nothing answers on %s", url)
	}
	l := m.hostLoad("-url", url, "-c", "16", "-d", "10m")
	run, took := m.waitTasks("grow behind the entry", 2*time.Minute, func(run []swarmTask) bool { return len(run) >= 3 })
	m.note("load on %s: the tier grew to %d replicas on one node in %s", url, len(run), took.Round(time.Second))
	entries, err := m.c.tasks(1, m.stack+"_entry", m.network)
	if err != nil || len(entries) != 1 {
		t.Fatalf("entry tasks %v (err %v), want one", entries, err)
	}
	var ready int
	if eventually(30*time.Second, 500*time.Millisecond, func() bool {
		st, err := m.state(entries[0].IP)
		ready = 0
		for _, mb := range st.Members {
			if mb.State == "ready" {
				ready++
			}
		}
		return err == nil && ready >= 3
	}) != nil {
		t.Fatalf("the entry sees %d ready replicas, want at least 3", ready)
	}
	// A window for the load to spread over them (not a wait for an event).
	time.Sleep(3 * time.Second)
	victim := run[len(run)-1]
	killed := time.Now()
	if _, err := m.c.dk(victim.Node, "kill", victim.Container); err != nil {
		t.Fatal(err)
	}
	// Swarm starts the replacement in the killed task's slot.
	slot := victim.Name[:strings.LastIndex(victim.Name, ".")+1]
	m.waitTasks("replaced", 90*time.Second, func(run []swarmTask) bool {
		for _, x := range run {
			if strings.HasPrefix(x.Name, slot) && x.Name != victim.Name {
				return true
			}
		}
		return false
	})
	m.note("web task %s killed under load; its replacement runs %s later", victim.Name, time.Since(killed).Round(100*time.Millisecond))
	// A window for the replacement to take load too (not a wait for an
	// event): failures from the kill would show by now.
	time.Sleep(3 * time.Second)
	res := l.stop(m)
	requireNoFailures(t, "load through the entry", res)
	var web []string
	for _, id := range res.Replicas {
		if strings.HasPrefix(id, m.service+".") {
			web = append(web, id)
		}
	}
	if len(web) < 3 || len(web) != len(res.Replicas) {
		t.Errorf("answers came from %v, want at least 3 web replicas and nothing else", res.Replicas)
	}
	m.note("load through the entry: %d requests, %d failed, answered by %d web replicas", res.Total, res.Total-res.OK, len(web))
}

// pendingPlacement (one node): the web service is given a host-mode port
// (18080) for a while, so one task fits on the node. Under load the tier
// asks for more; the leader's decisions say "pending" with Swarm's reason,
// mitosis_replicas_pending{reason="port"} shows them, and the desired
// count does not run away: it stays at what runs (plus one probe).
func pendingPlacement(m *mn) {
	t := m.t
	// All tasks at once (parallelism 0): one gets the port, the others pend.
	if _, err := m.docker("service", "update", "--detach", "--update-order", "stop-first", "--update-parallelism", "0",
		"--publish-add", "mode=host,published=18080,target=8080", m.service); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = m.docker("service", "update", "--detach", "--publish-rm", "18080", m.service)
	}()
	url := "http://" + m.c.addr(1) + ":8080/work?ms=200"
	l := m.hostLoad("-url", url, "-c", "16", "-d", "10m")
	defer l.stop(m)
	type line struct {
		desired, current, pending int
		reason                    string
	}
	var log []line
	var metric string
	seen := map[string]bool{}
	if eventually(2*time.Minute, time.Second, func() bool {
		for _, x := range runningTasks(m.tasks()) {
			st, err := m.state(x.IP)
			if err != nil || !st.Replicas.Leader {
				continue
			}
			for _, d := range st.Decisions {
				if key := d.Time.String(); !seen[key] && d.Pending > 0 {
					seen[key] = true
					log = append(log, line{d.Desired, d.Current, d.Pending, d.Reason})
				}
			}
			metric, _ = m.get("http://" + net.JoinHostPort(x.IP, "9090") + "/metrics")
		}
		return len(log) >= 3 && strings.Contains(metric, `mitosis_replicas_pending{reason="port"}`)
	}) != nil {
		t.Fatalf("no decisions with pending replicas within 2 minutes (%d seen)", len(log))
	}
	for _, d := range log {
		m.t.Logf("decision: current %d desired %d pending %d: %s", d.current, d.desired, d.pending, d.reason)
		if !strings.Contains(d.reason, "pending: ") || !strings.Contains(d.reason, "host-mode port") {
			t.Errorf("a decision with %d pending does not say why: %q", d.pending, d.reason)
		}
	}
	// What Swarm is asked for comes down to what runs (plus one probe)
	// and stays there while the load still wants more.
	asked := func() (n, run int) {
		out, err := m.docker("service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}}", m.service)
		if err != nil {
			t.Fatal(err)
		}
		n, _ = strconv.Atoi(strings.TrimSpace(out))
		return n, len(runningTasks(m.tasks()))
	}
	var n, run int
	if eventually(time.Minute, time.Second, func() bool { n, run = asked(); return n <= run+1 }) != nil {
		t.Fatalf("the service asks for %d replicas while %d run: the desired count ran away", n, run)
	}
	for range 10 { // a window of 10 s under the load, not a wait for an event
		time.Sleep(time.Second)
		if n, run = asked(); n > run+1 {
			t.Fatalf("the service asks for %d replicas again while %d run", n, run)
		}
	}
	out := strconv.Itoa(n)
	for _, ln := range strings.Split(metric, "\n") {
		if strings.HasPrefix(ln, "mitosis_replicas_pending{") {
			m.t.Log(ln)
		}
	}
	last := log[len(log)-1]
	m.note("host port on the web tier: %d decisions with pending replicas, e.g. %q; %s asked for, %d running",
		len(log), last.reason, out, run)
}
