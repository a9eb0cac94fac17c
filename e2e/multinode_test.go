package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mnOverride, on top of the suite's e2eOverride, starts the tier at one
// replica and lets it grow to six, spread over the nodes by stack.yml's
// placement preference, with the health rule below.
const mnOverride = `version: "3.8"
services:
  web:
    environment:
      MITOSIS_MIN_REPLICAS: "1"
      MITOSIS_MAX_REPLICAS: "6"
      MITOSIS_HEALTH_TIMEOUT: 500ms
      MITOSIS_HEALTH_FAILS: "3"
      MITOSIS_LOG_LEVEL: info
    deploy:
      replicas: 1
`

// The health rule of mnOverride: a sibling is down after this many failed
// polls, one per sync interval, each failing within the health timeout.
const (
	mnTick       = time.Second
	mnHealthRule = 3 * (time.Second + 500*time.Millisecond)
)

// mn is one deployed stack on a cluster.
type mn struct {
	*harness
	c       *cluster
	probe   string // a container on the stack network for GETs from inside
	sum     *[]string
	loadgen string // the loadgen binary, for load from this machine
}

// TestMultiNode runs the stack on Swarms of three nodes on this machine,
// one cluster per run, the scenarios in order on one deployment. A summary
// of each scenario's duration and failure counts ends the log.
func TestMultiNode(t *testing.T) {
	requireMultiNode(t)
	id := randomName()
	dir := t.TempDir()
	// The image is written as an archive and loaded into the nodes: the
	// machine's own daemon is not needed (E2E_IMAGE_TAR: one made before).
	tar := os.Getenv("E2E_IMAGE_TAR")
	if tar == "" {
		if err := buildBinaries(dir); err != nil {
			t.Fatal(err)
		}
		var err error
		if tar, err = imageArchive(dir, "mitosis-e2e:"+id); err != nil {
			t.Fatal(err)
		}
	}
	var summary []string
	defer func() {
		t.Logf("multi-node summary:\n%s", strings.Join(summary, "\n"))
	}()
	// Replicas on the workers scale through the guard on the manager.
	t.Run("one manager two workers", func(t *testing.T) {
		m := deployMN(t, 1, 3, tar, id+"a", &summary, "ports:")
		m.scenario("spread, scale 1 → ≥4 → 1", scaleSpread)
		m.scenario("worker lost under load", func(m *mn) { nodeLost(m, 3) })
		m.scenario("leader lost", leaderLost)
		m.scenario("node drained under load", func(m *mn) { nodeDrained(m, 2) })
	})
	t.Run("three managers", func(t *testing.T) {
		m := deployMN(t, 3, 3, tar, id+"b", &summary, "ports:")
		m.scenario("manager lost, scaling continues", func(m *mn) { managerLost(m, 3) })
	})
	// One node: the entry on the node's port 8080 in front of the tier.
	t.Run("one node with the entry", func(t *testing.T) {
		m := deployMN(t, 1, 1, tar, id+"c", &summary)
		m.loadgen = filepath.Join(dir, "loadgen")
		m.scenario("entry: tier grows, a web task killed", entryScales)
		m.scenario("web on a host port: pending, capped", pendingPlacement)
	})
}

// deployMN starts the nodes, loads the image into them, deploys the stack
// from node 1 (the docker commands of the harness talk to it) without the
// YAML blocks in drop ("ports:": load comes from the overlay only) and
// waits for its one replica.
func deployMN(t *testing.T, managers, nodes int, tar, id string, sum *[]string, drop ...string) *mn {
	start := time.Now()
	c := upCluster(t, managers, nodes)
	image, err := c.load(tar)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_HOST", c.hosts[1])
	h := &harness{t: t, dir: t.TempDir(), image: image, stack: "mn" + id}
	h.service, h.network = h.stack+"_web", h.stack+"_mitosis"
	t.Cleanup(func() {
		if t.Failed() {
			h.dump()
		}
		// The nodes go down anyway: only the containers on node 1 that
		// hold the network need to go first.
		if out, _ := h.docker("ps", "-aq", "--filter", "label=mitosis.e2e="+h.stack); strings.TrimSpace(out) != "" {
			_, _ = h.docker(append([]string{"rm", "-f"}, strings.Fields(out)...)...)
		}
	})
	h.deployWith([]string{e2eOverride, mnOverride}, drop...)
	m := &mn{harness: h, c: c, probe: h.stack + "_probe", sum: sum}
	if _, err := h.waitReplicas("deploy", 2*time.Minute, func(r, d int) bool { return r == 1 && d == 1 }); err != nil {
		t.Fatal(err)
	}
	h.mustDocker("run", "-d", "--name", m.probe, "--label", "mitosis.e2e="+h.stack, "--network", h.network,
		"--entrypoint", "/mitosis", "-e", "MITOSIS_DRIVER=off", image)
	t.Logf("%d nodes (%d managers), stack %s up after %s", nodes, managers, h.stack, time.Since(start).Round(time.Second))
	return m
}

// scenario runs f as a subtest and adds its duration and outcome to the
// summary.
func (m *mn) scenario(name string, f func(m *mn)) {
	t := m.t
	// E2E_RUN=<substring> runs only the matching scenarios.
	if only := os.Getenv("E2E_RUN"); only != "" && !strings.Contains(name, only) {
		return
	}
	start := time.Now()
	ok := t.Run(name, func(st *testing.T) {
		m.t = st
		defer func() { m.t = t }()
		f(m)
	})
	verdict := "ok"
	if !ok {
		verdict = "FAILED"
	}
	*m.sum = append(*m.sum, fmt.Sprintf("  %-40s %-6s %s", name, verdict, time.Since(start).Round(time.Second)))
}

// note adds a line to the summary under the current scenario.
func (m *mn) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	m.t.Log(s)
	*m.sum = append(*m.sum, "      "+s)
}

// get fetches url from inside the stack network, through the probe.
func (m *mn) get(url string) (string, error) {
	return m.docker("exec", m.probe, "/loadgen", "-get", "-timeout", "2s", "-url", url)
}

// mnState is the part of a replica's /_mitosis/state the scenarios read.
type mnState struct {
	ID      string `json:"id"`
	Members []struct {
		ID        string `json:"id"`
		AdminAddr string `json:"admin_addr"`
		State     string `json:"state"`
	} `json:"members"`
	Replicas struct {
		Leader  bool `json:"leader"`
		Desired int  `json:"desired"`
	} `json:"replicas"`
	Decisions []struct {
		Time    time.Time `json:"time"`
		Pending int       `json:"pending"`
		Reason  string    `json:"reason"`
		Leader  bool      `json:"leader"`
		Acted   bool      `json:"acted"`
		Result  string    `json:"result"`
		Current int       `json:"current"`
		Desired int       `json:"desired"`
	} `json:"decisions"`
}

// state reads a replica's state at its overlay address.
func (m *mn) state(ip string) (mnState, error) {
	var st mnState
	body, err := m.get("http://" + net.JoinHostPort(ip, "9090") + "/_mitosis/state")
	if err != nil {
		return st, err
	}
	err = json.Unmarshal([]byte(body), &st)
	return st, err
}

// tasks lists the service's tasks meant to run, from node 1.
func (m *mn) tasks() []swarmTask {
	m.t.Helper()
	ts, err := m.c.tasks(1, m.service, m.network)
	if err != nil {
		m.t.Fatal(err)
	}
	return ts
}

// waitTasks polls the service's tasks every second until ok or timeout,
// logging each change of the running tasks per node.
func (m *mn) waitTasks(what string, timeout time.Duration, ok func(run []swarmTask) bool) ([]swarmTask, time.Duration) {
	m.t.Helper()
	start := time.Now()
	last := ""
	var run []swarmTask
	var err error
	if eventually(timeout, time.Second, func() bool {
		var ts []swarmTask
		if ts, err = m.c.tasks(1, m.service, m.network); err != nil {
			return false
		}
		run = runningTasks(ts)
		if s := fmt.Sprint(perNode(run)); s != last {
			m.t.Logf("%s: %d running %s (by node) at +%s", what, len(run), s, time.Since(start).Round(time.Second))
			last = s
		}
		return ok(run)
	}) != nil {
		m.t.Fatalf("%s: not reached within %s (running by node %s, err %v)", what, timeout, last, err)
	}
	return run, time.Since(start)
}

// settled reports whether every task meant to run runs, as many as the
// service's spec asks for, and none on node `not` (0: any node).
func (m *mn) settled(run []swarmTask, not int) bool {
	out, err := m.docker("service", "inspect", "--format", "{{.Spec.Mode.Replicated.Replicas}}", m.service)
	if err != nil {
		return false
	}
	ts, _ := on(run, not)
	return strings.TrimSpace(out) == fmt.Sprint(len(run)) && len(ts) == 0
}

// nodeRuns reports whether node i's daemon runs a container of the service.
func (m *mn) nodeRuns(i int) bool {
	out, err := m.c.dk(i, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+m.service)
	return err != nil || strings.TrimSpace(out) != ""
}

// failuresOn splits a result's failures (loadgen -by-addr) into those
// whose connection went to one of the hosts in lost (a lost node's
// replicas) and the others (where, with their addresses; "" is a request
// that never got as far as dialling).
func failuresOn(r loadResult, lost map[string]bool) (onLost, elsewhere int64, where []string) {
	for addr, c := range r.ByAddr {
		if c.Failed == 0 {
			continue
		}
		host, _, _ := net.SplitHostPort(addr)
		if lost[host] {
			onLost += c.Failed
		} else {
			elsewhere += c.Failed
			where = append(where, fmt.Sprintf("%s: %d", addr, c.Failed))
		}
	}
	return onLost, elsewhere, where
}
