package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cluster is a Swarm of several nodes on this machine, each a dockerd in
// namespaces of its own (testdata/nodes.sh).
type cluster struct {
	t      *testing.T
	script string
	n      int
	hosts  map[int]string // DOCKER_HOST by node index
	ids    map[string]int // node index by Swarm node id
}

// requireMultiNode skips with one line unless the multi-node suite was
// asked for (CI=true or E2E_MULTINODE=1); asked for, it fails when a
// prerequisite is missing.
func requireMultiNode(t *testing.T) {
	t.Helper()
	ci := os.Getenv("CI") == "true"
	if !ci && os.Getenv("E2E_MULTINODE") == "" {
		t.Skip("e2e multinode: starts a 3-node Swarm on this machine; set E2E_MULTINODE=1 (or CI=true) to run it")
	}
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"docker", "dockerd", "ip", "iptables", "nsenter", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("e2e multinode: needs %s", strings.Join(missing, ", "))
	}
}

// upCluster starts n nodes, the first managers of them managers, and
// brings them down when the test ends, whatever happens.
func upCluster(t *testing.T, managers, n int) *cluster {
	t.Helper()
	script, err := filepath.Abs("testdata/nodes.sh")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, script: script, n: n, hosts: map[int]string{}, ids: map[string]int{}}
	// A run that died without its cleanup may have left nodes behind.
	_, _ = c.sh(2*time.Minute, "down")
	t.Cleanup(func() {
		if _, err := c.sh(2*time.Minute, "down"); err != nil {
			t.Errorf("nodes down: %v", err)
		}
	})
	out, err := c.sh(3*time.Minute, "up", "-m", strconv.Itoa(managers), strconv.Itoa(n))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var i int
		var host string
		if _, err := fmt.Sscanf(line, "node%d DOCKER_HOST=%s", &i, &host); err == nil {
			c.hosts[i] = host
		}
	}
	if len(c.hosts) != n {
		t.Fatalf("nodes up: %d hosts in %q, want %d", len(c.hosts), out, n)
	}
	for i := 1; i <= n; i++ {
		id, err := c.dk(i, "info", "--format", "{{.Swarm.NodeID}}")
		if err != nil {
			t.Fatal(err)
		}
		c.ids[strings.TrimSpace(id)] = i
	}
	return c
}

func (c *cluster) sh(timeout time.Duration, args ...string) (string, error) {
	return run(context.Background(), timeout, nil, "bash", append([]string{c.script}, args...)...)
}

// dk runs docker against node i.
func (c *cluster) dk(i int, args ...string) (string, error) {
	return run(context.Background(), 2*time.Minute, nil, "docker", append([]string{"-H", c.hosts[i]}, args...)...)
}

// nodeID returns the Swarm id of node i.
func (c *cluster) nodeID(i int) string {
	for id, j := range c.ids {
		if j == i {
			return id
		}
	}
	return ""
}

// load loads an image archive into every node at once and returns the
// image's name.
func (c *cluster) load(tar string) (string, error) {
	outs := make([]string, c.n+1)
	errs := make([]error, c.n+1)
	var wg sync.WaitGroup
	for i := 1; i <= c.n; i++ {
		wg.Go(func() { outs[i], errs[i] = c.dk(i, "load", "-i", tar) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	_, name, ok := strings.Cut(strings.TrimSpace(outs[1]), "Loaded image: ")
	if !ok {
		return "", fmt.Errorf("docker load: no image name in %q", outs[1])
	}
	return strings.TrimSpace(name), nil
}

// stop kills node i (its dockerd, containerd and tasks), as if it were
// lost; start brings its dockerd back, and it rejoins.
func (c *cluster) stop(i int) error {
	_, err := c.sh(time.Minute, "stop", strconv.Itoa(i))
	return err
}

func (c *cluster) start(i int) error {
	_, err := c.sh(2*time.Minute, "start", strconv.Itoa(i))
	return err
}

// nodeStatus returns node i's status ("ready", "down") as manager node
// `from` sees it.
func (c *cluster) nodeStatus(from, i int) string {
	out, err := c.dk(from, "node", "inspect", "--format", "{{.Status.State}}", c.nodeID(i))
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(out)
}

// swarmTask is one task of the service, as a manager sees it.
type swarmTask struct {
	ID, Name  string
	Node      int
	State     string
	IP        string // on the stack network
	Container string // the task's container name on its node
}

// tasks lists the service's tasks that are meant to run (from manager
// node `from`), with the node each is on and its overlay address.
func (c *cluster) tasks(from int, service, network string) ([]swarmTask, error) {
	out, err := c.dk(from, "service", "ps", "-q", "--no-trunc", "--filter", "desired-state=running", service)
	if err != nil {
		return nil, err
	}
	ids := strings.Fields(out)
	if len(ids) == 0 {
		return nil, nil
	}
	js, err := c.dk(from, append([]string{"inspect"}, ids...)...)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		ID     string
		Slot   int
		NodeID string
		Status struct {
			State string
		}
		NetworksAttachments []struct {
			Network struct {
				Spec struct{ Name string }
			}
			Addresses []string
		}
	}
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return nil, fmt.Errorf("task inspect: %w", err)
	}
	var ts []swarmTask
	for _, r := range raw {
		name := fmt.Sprintf("%s.%d.%s", service, r.Slot, r.ID)
		st := swarmTask{ID: r.ID, Name: name, Container: name, Node: c.ids[r.NodeID], State: r.Status.State}
		for _, a := range r.NetworksAttachments {
			if a.Network.Spec.Name == network && len(a.Addresses) > 0 {
				st.IP, _, _ = strings.Cut(a.Addresses[0], "/")
			}
		}
		ts = append(ts, st)
	}
	slices.SortFunc(ts, func(a, b swarmTask) int { return strings.Compare(a.Name, b.Name) })
	return ts, nil
}

// runningTasks keeps the tasks in state running.
func runningTasks(ts []swarmTask) []swarmTask {
	return slices.DeleteFunc(slices.Clone(ts), func(t swarmTask) bool { return t.State != "running" })
}

// perNode counts tasks by node index.
func perNode(ts []swarmTask) map[int]int {
	out := map[int]int{}
	for _, t := range ts {
		out[t.Node]++
	}
	return out
}

// addr returns node i's address on the bridge (its published ports).
func (c *cluster) addr(i int) string {
	out, err := c.sh(10*time.Second, "addr", strconv.Itoa(i))
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}
