package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/wait"
)

// loadResult is the JSON line examples/loadgen prints at the end.
type loadResult struct {
	Total     int64            `json:"total"`
	OK        int64            `json:"ok"`
	ByStatus  map[string]int64 `json:"by_status"`
	Errors    map[string]int64 `json:"errors"`
	P50       float64          `json:"p50_ms"`
	P95       float64          `json:"p95_ms"`
	P99       float64          `json:"p99_ms"`
	Replicas  []string         `json:"replicas"`
	FirstFail string           `json:"first_failure"`

	// ByAddr counts by connection address (loadgen -by-addr).
	ByAddr map[string]struct{ Total, Failed int64 } `json:"by_addr"`
}

func (r loadResult) String() string {
	return fmt.Sprintf("total=%d ok=%d status=%v errors=%v p50=%.0fms p95=%.0fms p99=%.0fms replicas=%d first_failure=%q",
		r.Total, r.OK, r.ByStatus, r.Errors, r.P50, r.P95, r.P99, len(r.Replicas), r.FirstFail)
}

// harness is one deployed stack.
type harness struct {
	t       *testing.T
	dir     string // temp dir: binaries, Dockerfile, stack files
	image   string // mitosis-e2e:<random>
	stack   string // e2e<random>
	service string // <stack>_web
	network string // <stack>_mitosis
}

func randomName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// run runs a command with a timeout and returns its stdout; the error
// carries stderr.
func run(ctx context.Context, timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (h *harness) docker(args ...string) (string, error) {
	return run(context.Background(), 2*time.Minute, nil, "docker", args...)
}

func (h *harness) mustDocker(args ...string) string {
	h.t.Helper()
	out, err := h.docker(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

// requireDocker skips (or, with CI=true, fails) without a reachable daemon
// that is a Swarm manager.
func requireDocker(t *testing.T) {
	t.Helper()
	out, err := run(context.Background(), 20*time.Second, nil, "docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
	why := ""
	switch {
	case err != nil:
		why = "docker not reachable: " + firstLine(err.Error())
	case strings.TrimSpace(out) != "active true":
		why = "docker is not a swarm manager (docker swarm init): swarm state " + strings.TrimSpace(out)
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("e2e: " + why)
	}
	t.Skip("e2e: " + why)
}

// destructiveEnv opts in to the scenarios that stop the Docker daemon
// itself (SIGSTOP of dockerd): never on a developer's machine by surprise.
const destructiveEnv = "E2E_DESTRUCTIVE"

// requireDestructive skips a scenario that freezes the daemon unless
// CI=true or E2E_DESTRUCTIVE=true, and without root (it signals dockerd);
// under CI=true a missing root fails instead.
func requireDestructive(t *testing.T) {
	t.Helper()
	ci := os.Getenv("CI") == "true"
	if !ci && os.Getenv(destructiveEnv) != "true" {
		t.Skipf("e2e: freezes dockerd (every container on this machine stops for 20 s): runs with CI=true or %s=true", destructiveEnv)
	}
	if os.Geteuid() != 0 {
		if ci {
			t.Fatal("e2e: needs root to freeze dockerd (kill -STOP)")
		}
		t.Skip("e2e: needs root to freeze dockerd (kill -STOP)")
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// build compiles mitosis and loadgen statically and wraps them in a
// FROM-scratch image (no pulls: the image is made of the host's binaries).
func (h *harness) build() {
	t := h.t
	if err := buildBinaries(h.dir); err != nil {
		t.Fatal(err)
	}
	dockerfile := `FROM scratch
COPY mitosis /mitosis
COPY loadgen /loadgen
COPY guardprobe /guardprobe
EXPOSE 8080 9090
HEALTHCHECK --interval=2s --timeout=2s --retries=3 CMD ["/mitosis","healthcheck"]
ENTRYPOINT ["/mitosis"]
`
	if err := os.WriteFile(filepath.Join(h.dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	// The classic builder: BuildKit would try to resolve the frontend.
	if _, err := run(context.Background(), 3*time.Minute, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q",
		"--label", "mitosis.e2e="+h.stack, "-t", h.image, h.dir); err != nil {
		t.Fatal(err)
	}
}

// e2eOverride tunes the stack for a short test: fast ticks and windows,
// small capacity per replica, short drain.
const e2eOverride = `version: "3.8"
services:
  web:
    environment:
      MITOSIS_TICK: 1s
      MITOSIS_STABLE_WINDOW: 10s
      MITOSIS_PANIC_WINDOW: 2s
      MITOSIS_SCALE_DOWN_DELAY: 10s
      MITOSIS_TARGET_CONCURRENCY: "4"
      MITOSIS_MAX_INFLIGHT: "8"
      MITOSIS_MIN_REPLICAS: "2"
      MITOSIS_MAX_REPLICAS: "5"
      MITOSIS_SYNC_INTERVAL: 1s
      MITOSIS_DRAIN_DELAY: 2s
      MITOSIS_DRAIN_TIMEOUT: 8s
      MITOSIS_LOG_LEVEL: debug
    healthcheck:
      interval: 2s
      start_period: 2s
    stop_grace_period: 12s
    deploy:
      labels:
        mitosis.e2e: "true"
  guard:
    environment:
      MITOSIS_GUARD_IMAGES: ${MITOSIS_IMAGE}
      MITOSIS_GUARD_RUN_TIMEOUT: 30s
      MITOSIS_LOG_LEVEL: debug
`

// deploy merges the repository's stack.noipvs.yml (the stack for hosts
// without a routing mesh) with the e2e override (docker stack config),
// drops the published port, and deploys. The port goes because the load
// comes from inside the overlay (this machine's port 8080 is not the
// suite's to take).
func (h *harness) deploy() { h.deployWith([]string{e2eOverride}, "ports:") }

// deployWith deploys the stack with the overrides (in order), without the
// YAML blocks named by drop.
func (h *harness) deployWith(overrides []string, drop ...string) {
	t := h.t
	root, _ := filepath.Abs("..")
	args := []string{"stack", "config", "-c", filepath.Join(root, "stack.noipvs.yml")}
	for i, o := range overrides {
		file := filepath.Join(h.dir, fmt.Sprintf("e2e%d.yml", i))
		if err := os.WriteFile(file, []byte(o), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-c", file)
	}
	h.createGuardSecret()
	merged, err := run(context.Background(), time.Minute, []string{"MITOSIS_IMAGE=" + h.image, "MITOSIS_GUARD_SECRET=" + h.guardSecret()}, "docker", args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(merged, "endpoint_mode: dnsrr") || !strings.Contains(merged, "image: "+h.image) {
		t.Fatalf("merged stack lacks dnsrr or the image:\n%s", merged)
	}
	for _, key := range drop {
		merged = dropBlock(merged, key)
	}
	file := filepath.Join(h.dir, "stack.e2e.yml")
	if err := os.WriteFile(file, []byte(merged), 0o644); err != nil {
		t.Fatal(err)
	}
	h.mustDocker("stack", "deploy", "--resolve-image", "never", "--prune", "-c", file, h.stack)
}

// dropBlock removes a YAML key (matched on its trimmed line) and every
// line nested under it.
func dropBlock(yaml, key string) string {
	var out []string
	skip := -1
	for _, line := range strings.Split(yaml, "\n") {
		indent := len(line) - len(strings.TrimLeft(line, " "))
		trimmed := strings.TrimSpace(line)
		if skip >= 0 {
			if trimmed == "" || indent > skip || (indent == skip && strings.HasPrefix(trimmed, "- ")) {
				continue
			}
			skip = -1
		}
		if trimmed == key {
			skip = indent
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// cleanup removes the stack, waits until its containers and network are
// gone, removes the test's own containers and the image.
func (h *harness) cleanup() {
	t := h.t
	// The test's own containers first: the stack's network cannot go while
	// they are attached to it.
	if out, _ := h.docker("ps", "-aq", "--filter", "label=mitosis.e2e="+h.stack); strings.TrimSpace(out) != "" {
		_, _ = h.docker(append([]string{"rm", "-f"}, strings.Fields(out)...)...)
	}
	_, _ = h.docker("stack", "rm", h.stack)
	var c, n string
	if err := eventually(90*time.Second, time.Second, func() bool {
		c, _ = h.docker("ps", "-aq", "--filter", "label=com.docker.stack.namespace="+h.stack)
		n, _ = h.docker("network", "ls", "-q", "--filter", "name="+h.network)
		if strings.TrimSpace(c) == "" && strings.TrimSpace(n) != "" {
			// stack rm gives up on a network that still had endpoints.
			_, _ = h.docker("network", "rm", h.network)
		}
		return strings.TrimSpace(c) == "" && strings.TrimSpace(n) == ""
	}); err != nil {
		t.Errorf("cleanup: stack %s left containers %q networks %q", h.stack, c, n)
	}
	h.removeGuardSecret()
	if _, err := h.docker("rmi", "-f", h.image); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// replicas returns the running and desired counts `docker service ls`
// prints as REPLICAS.
func (h *harness) replicas() (running, desired int, err error) {
	out, err := h.docker("service", "ls", "--filter", "name="+h.service, "--format", "{{.Name}} {{.Replicas}}")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, reps, _ := strings.Cut(line, " ")
		if name != h.service {
			continue
		}
		reps, _, _ = strings.Cut(reps, " ") // "2/2 (max 1 per node)"
		r, d, ok := strings.Cut(reps, "/")
		if !ok {
			break
		}
		running, err1 := strconv.Atoi(r)
		desired, err2 := strconv.Atoi(d)
		return running, desired, errors.Join(err1, err2)
	}
	return 0, 0, fmt.Errorf("service %s not in %q", h.service, out)
}

// waitReplicas polls REPLICAS every second until ok or timeout, logging
// each change; it returns the highest running count seen.
func (h *harness) waitReplicas(what string, timeout time.Duration, ok func(running, desired int) bool) (maxRunning int, err error) {
	last := ""
	var lastErr error
	if eventually(timeout, time.Second, func() bool {
		r, d, err := h.replicas()
		if lastErr = err; err != nil {
			return false
		}
		maxRunning = max(maxRunning, r)
		if s := fmt.Sprintf("%d/%d", r, d); s != last {
			h.t.Logf("%s: REPLICAS %s", what, s)
			last = s
		}
		return ok(r, d)
	}) != nil {
		return maxRunning, fmt.Errorf("%s: not reached within %s (last REPLICAS %s, err %v)", what, timeout, last, lastErr)
	}
	return maxRunning, nil
}

// eventually calls cond every `every` until it returns true (nil) or
// timeout has passed (an error).
func eventually(timeout, every time.Duration, cond func() bool) error {
	if !wait.Until(timeout, every, cond) {
		return fmt.Errorf("not within %s", timeout)
	}
	return nil
}

// waitServing waits until the replica whose admin address is admin reports
// traffic (requests in flight or a request rate): a load started on it is
// flowing.
func (h *harness) waitServing(admin string, timeout time.Duration) {
	h.t.Helper()
	if err := eventually(timeout, 500*time.Millisecond, func() bool {
		body, err := h.get("http://" + admin + "/_mitosis/state")
		var st stateDoc
		return err == nil && json.Unmarshal([]byte(body), &st) == nil && (st.Inflight > 0 || st.RPS > 0)
	}); err != nil {
		h.t.Fatalf("no traffic reached %s: %v", admin, err)
	}
}

// task is one running task's container.
type task struct {
	Name      string // <service>.<slot>.<task id>, the replica id
	Container string
	IP        string // on the stack network
}

func (h *harness) tasks() ([]task, error) {
	out, err := h.docker("ps", "--filter", "label=com.docker.swarm.service.name="+h.service,
		"--format", `{{.ID}} {{.Label "com.docker.swarm.task.name"}}`)
	if err != nil {
		return nil, err
	}
	var ts []task
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		id, name, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		ip, err := h.docker("inspect", "-f", `{{with index .NetworkSettings.Networks "`+h.network+`"}}{{.IPAddress}}{{end}}`, id)
		if err != nil {
			continue // gone meanwhile
		}
		ts = append(ts, task{Name: name, Container: id, IP: strings.TrimSpace(ip)})
	}
	return ts, nil
}

// load is a loadgen container on the stack network.
type load struct {
	h    *harness
	name string
}

// startLoad runs loadgen detached on the stack network; args are loadgen
// flags.
func (h *harness) startLoad(tag string, args ...string) *load {
	return h.startLoadOn(h.network, tag, args...)
}

// startLoadOn runs loadgen detached on network.
func (h *harness) startLoadOn(network, tag string, args ...string) *load {
	name := h.stack + "_" + tag
	h.mustDocker(append([]string{"run", "-d", "--name", name, "--label", "mitosis.e2e=" + h.stack,
		"--network", network, "--entrypoint", "/loadgen", h.image}, args...)...)
	return &load{h: h, name: name}
}

// stop ends the load (SIGTERM: loadgen prints its result) and returns the
// result; the container is removed.
func (l *load) stop() loadResult {
	t := l.h.t
	t.Helper()
	_, _ = l.h.docker("stop", "-t", "20", l.name)
	return l.result()
}

// result waits for loadgen to finish and parses its last stdout line.
func (l *load) result() loadResult {
	t := l.h.t
	t.Helper()
	defer func() { _, _ = l.h.docker("rm", "-f", l.name) }()
	l.h.mustDocker("wait", l.name)
	out, err := run(context.Background(), time.Minute, nil, "docker", "logs", l.name)
	if err != nil {
		t.Fatalf("loadgen %s logs: %v", l.name, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res loadResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("loadgen %s: no result line in %q: %v", l.name, out, err)
	}
	return res
}

// get fetches url from inside the stack network (loadgen -get).
func (h *harness) get(url string) (string, error) { return h.getOn(h.network, url) }

// getOn fetches url from inside network.
func (h *harness) getOn(network, url string) (string, error) {
	return h.docker("run", "--rm", "--label", "mitosis.e2e="+h.stack, "--network", network,
		"--entrypoint", "/loadgen", h.image, "-get", "-timeout", "5s", "-url", url)
}

// dump logs the service's tasks and the end of its logs, for a failure.
func (h *harness) dump() {
	ps, _ := h.docker("service", "ps", "--no-trunc", "--format", "{{.Name}} {{.DesiredState}} {{.CurrentState}} {{.Error}}", h.service)
	h.t.Logf("docker service ps %s:\n%s", h.service, ps)
	logs, err := run(context.Background(), time.Minute, nil, "sh", "-c", "docker service logs --no-task-ids --tail 40 "+h.service+" 2>&1")
	h.t.Logf("docker service logs %s (%v):\n%s", h.service, err, logs)
}
