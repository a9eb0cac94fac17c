package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The guard scenarios run on TestSwarm's stack: stack.yml as shipped, in
// which the web tier has no Docker socket and scales through the guard.

// guardSecret is the name of the stack's Docker secret shared by the web
// tier and the guard (stack.yml reads it from MITOSIS_GUARD_SECRET).
func (h *harness) guardSecret() string { return h.stack + "_guard_token" }

// guardToken is the secret's value: derived from the random stack name,
// so the scenarios know it as a hijacked replica (which can read its
// /run/secrets) would.
func (h *harness) guardToken() string {
	sum := sha256.Sum256([]byte("mitosis-e2e-guard/" + h.stack))
	return hex.EncodeToString(sum[:])
}

func (h *harness) createGuardSecret() {
	file := filepath.Join(h.dir, "guard.token")
	if err := os.WriteFile(file, []byte(h.guardToken()+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
	h.mustDocker("secret", "create", "--label", "mitosis.e2e="+h.stack, h.guardSecret(), file)
}

func (h *harness) removeGuardSecret() {
	if out, _ := h.docker("secret", "ls", "-q", "--filter", "name="+h.guardSecret()); strings.TrimSpace(out) != "" {
		if _, err := h.docker("secret", "rm", h.guardSecret()); err != nil {
			h.t.Errorf("cleanup: %v", err)
		}
	}
}

func (h *harness) guardService() string { return h.stack + "_guard" }

// serviceDoc is the part of `docker service inspect` the scenarios read.
type serviceDoc struct {
	ID      string
	Version struct{ Index uint64 }
	Spec    struct {
		Labels       map[string]string
		TaskTemplate struct {
			ContainerSpec struct {
				Image  string
				User   string
				Mounts []struct{ Type, Source, Target string }
			}
			Placement struct{ Constraints []string }
		}
		Mode struct {
			Replicated *struct{ Replicas uint64 }
			Global     *struct{}
		}
	}
	raw string // the whole document, for before/after comparisons
}

func (h *harness) inspectService(name string) serviceDoc {
	h.t.Helper()
	out := h.mustDocker("service", "inspect", name)
	var docs []serviceDoc
	if err := json.Unmarshal([]byte(out), &docs); err != nil || len(docs) != 1 {
		h.t.Fatalf("service inspect %s: %v: %.200s", name, err, out)
	}
	docs[0].raw = out
	return docs[0]
}

func holdsSocket(d serviceDoc) bool {
	for _, m := range d.Spec.TaskTemplate.ContainerSpec.Mounts {
		if strings.Contains(m.Source, "docker.sock") || strings.Contains(m.Target, "docker.sock") {
			return true
		}
	}
	return false
}

// guardContainer returns the id and overlay address of the running guard
// task's container.
func (h *harness) guardContainer() (id, ip string) {
	h.t.Helper()
	out := h.mustDocker("ps", "-q", "--no-trunc", "--filter", "label=com.docker.swarm.service.name="+h.guardService())
	ids := strings.Fields(out)
	if len(ids) != 1 {
		h.t.Fatalf("guard containers running: %q, want one", out)
	}
	ip = strings.TrimSpace(h.mustDocker("inspect", "-f", `{{with index .NetworkSettings.Networks "`+h.network+`"}}{{.IPAddress}}{{end}}`, ids[0]))
	return ids[0], ip
}

// guardLeastPrivilege: as deployed from stack.yml, the web service holds
// no Docker socket, runs as a non-root user and may run on any node; the
// guard alone mounts the socket, one task per manager; every web replica
// can scale (through the guard).
func guardLeastPrivilege(h *harness) {
	t := h.t
	web := h.inspectService(h.service)
	cs := web.Spec.TaskTemplate.ContainerSpec
	user, _, _ := strings.Cut(cs.User, ":")
	t.Logf("web: user %q, mounts %v, constraints %v", cs.User, cs.Mounts, web.Spec.TaskTemplate.Placement.Constraints)
	if holdsSocket(web) {
		t.Errorf("web mounts the Docker socket: %v", cs.Mounts)
	}
	if user == "" || user == "0" || user == "root" {
		t.Errorf("web runs as user %q, want a non-root user", cs.User)
	}
	if slices.ContainsFunc(web.Spec.TaskTemplate.Placement.Constraints, func(c string) bool { return strings.Contains(c, "manager") }) {
		t.Errorf("web is placed on managers only: %v", web.Spec.TaskTemplate.Placement.Constraints)
	}
	if web.Spec.Labels["mitosis.guard"] != "true" {
		t.Errorf("web lacks the label mitosis.guard=true: %v", web.Spec.Labels)
	}
	g := h.inspectService(h.guardService())
	if !holdsSocket(g) || g.Spec.Mode.Global == nil ||
		!slices.ContainsFunc(g.Spec.TaskTemplate.Placement.Constraints, func(c string) bool { return strings.Contains(c, "manager") }) {
		t.Errorf("guard: socket %t, global %t, constraints %v; want the socket, global, managers only",
			holdsSocket(g), g.Spec.Mode.Global != nil, g.Spec.TaskTemplate.Placement.Constraints)
	}
	for _, x := range sortedTasks(h) {
		mounts := h.mustDocker("inspect", "-f", `{{.Config.User}} {{range .Mounts}}{{.Source}} {{end}}`, x.Container)
		if strings.Contains(mounts, "docker.sock") || strings.HasPrefix(mounts, "0 ") || strings.HasPrefix(mounts, " ") {
			t.Errorf("task %s: user and mounts %q", x.Name, mounts)
		}
		// Whether a guard answers is checked every tick: wait for one.
		var last string
		if err := eventually(20*time.Second, time.Second, func() bool {
			body, err := h.get("http://" + x.IP + ":9090/_mitosis/state")
			var st struct {
				Replicas struct {
					CanScale bool `json:"can_scale"`
				} `json:"replicas"`
			}
			last = fmt.Sprintf("%v %.300s", err, body)
			return err == nil && json.Unmarshal([]byte(body), &st) == nil && st.Replicas.CanScale
		}); err != nil {
			t.Errorf("task %s cannot scale through the guard: %v (last answer: %s)", x.Name, err, last)
		}
	}
}

// probeAnswer is one line of guardprobe's output.
type probeAnswer struct {
	Name   string `json:"name"`
	Status int    `json:"status"`
	Body   string `json:"body"`
	Err    string `json:"err"`
}

func (a probeAnswer) rule() string {
	var e struct{ Rule string }
	_ = json.Unmarshal([]byte(a.Body), &e)
	return e.Rule
}

// probeStep is a request of the plan and the answer it must get.
type probeStep struct {
	Name   string `json:"name"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   string `json:"body"`
	Auth   string `json:"auth"`
	status int
	rule   string
}

// probe runs guardprobe with network (e.g. container:<id>) against base;
// detached (d true) it returns the container name and no answers.
func (h *harness) probe(tag, network, base string, steps []probeStep, detach bool) (string, []probeAnswer) {
	h.t.Helper()
	plan, _ := json.Marshal(steps)
	name := h.stack + "_" + tag
	args := []string{"run"}
	if detach {
		args = append(args, "-d")
	}
	args = append(args, "--name", name, "--label", "mitosis.e2e="+h.stack, "--network", network,
		"--entrypoint", "/guardprobe", h.image, "-base", base, "-plan", string(plan))
	if detach {
		h.mustDocker(args...)
		return name, nil
	}
	out, err := h.docker(args...)
	_, _ = h.docker("rm", "-f", name)
	if err != nil {
		h.t.Fatalf("guardprobe: %v", err)
	}
	return name, parseProbe(h, out)
}

func parseProbe(h *harness, out string) []probeAnswer {
	var as []probeAnswer
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var a probeAnswer
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			h.t.Fatalf("guardprobe line %q: %v", line, err)
		}
		as = append(as, a)
	}
	return as
}

// checkProbe compares answers with what each step must get.
func checkProbe(h *harness, steps []probeStep, got []probeAnswer) {
	h.t.Helper()
	if len(got) != len(steps) {
		h.t.Fatalf("guardprobe answered %d of %d steps", len(got), len(steps))
	}
	for i, s := range steps {
		a := got[i]
		if a.Status != s.status || a.rule() != s.rule {
			h.t.Errorf("%s: %s %s: got %d %q (%s), want %d %q", s.Name, s.Method, s.Path, a.Status, a.rule(), strings.TrimSpace(a.Body)+a.Err, s.status, s.rule)
		}
	}
}

// containerSet lists every container id on the daemon, stopped ones too.
func (h *harness) containerSet() map[string]bool {
	h.t.Helper()
	out := h.mustDocker("ps", "-aq", "--no-trunc")
	m := map[string]bool{}
	for _, id := range strings.Fields(out) {
		m[id] = true
	}
	return m
}

// guardAttacks: from inside a web task's network namespace (what a
// hijacked replica could do, secret included) every request beyond the
// replica's own status and scale within its bounds is refused: another
// service, bounds, service changes smuggled into a scale, images off the
// allow-list, privileged or bind-mounted runs, raw Engine API requests.
// Afterwards the services are as they were and no container ran.
func guardAttacks(h *harness) {
	t := h.t
	web := sortedTasks(h)[0]
	_, guardIP := h.guardContainer()
	base := "http://" + guardIP + ":7070"
	evil := h.notAllowedImage()
	webBefore, guardBefore := h.inspectService(h.service), h.inspectService(h.guardService())
	containersBefore := h.containerSet()

	bearer := "Bearer " + h.guardToken()
	img := h.image
	scalePath, runPath := "/guard/v1/scale", "/guard/v1/run"
	steps := []probeStep{
		{Name: "own identity", Method: "GET", Path: "/guard/v1/whoami", Auth: bearer, status: 200},
		{Name: "own status", Method: "GET", Path: "/guard/v1/status", Auth: bearer, status: 200},
		{Name: "status of the guard service", Method: "GET", Path: "/guard/v1/status?service=" + h.guardService(), Auth: bearer, status: 403, rule: "other_service"},
		{Name: "scale another service", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"service":"` + h.guardService() + `","replicas":3,"version":1}`, status: 403, rule: "other_service"},
		{Name: "above max", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"replicas":6,"version":1}`, status: 403, rule: "above_max"},
		{Name: "far above max", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"replicas":100000,"version":1}`, status: 403, rule: "above_max"},
		{Name: "below min", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"replicas":1,"version":1}`, status: 403, rule: "below_min"},
		{Name: "zero", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"replicas":0,"version":1}`, status: 403, rule: "below_min"},
		{Name: "change the image", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"replicas":2,"version":1,"image":"` + evil + `"}`, status: 400, rule: "unknown_field"},
		{Name: "change the env", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"replicas":2,"version":1,"env":["MITOSIS_MAX_REPLICAS=1000"]}`, status: 400, rule: "unknown_field"},
		{Name: "add a mount", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"replicas":2,"version":1,"mounts":[{"Type":"bind","Source":"/var/run/docker.sock","Target":"/var/run/docker.sock"}]}`, status: 400, rule: "unknown_field"},
		{Name: "change the user", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"replicas":2,"version":1,"user":"0"}`, status: 400, rule: "unknown_field"},
		{Name: "publish a port", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"replicas":2,"version":1,"EndpointSpec":{"Ports":[{"TargetPort":22,"PublishedPort":2222}]}}`, status: 400, rule: "unknown_field"},
		{Name: "a whole spec", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"Name":"` + h.service + `","TaskTemplate":{"ContainerSpec":{"Image":"` + evil + `","User":"0"}},"Mode":{"Replicated":{"Replicas":2}}}`, status: 400, rule: "unknown_field"},
		{Name: "run an image off the list", Method: "POST", Path: runPath, Auth: bearer, Body: `{"image":"` + evil + `","args":["config"]}`, status: 403, rule: "not_allowed_image"},
		{Name: "run privileged", Method: "POST", Path: runPath, Auth: bearer, Body: `{"image":"` + img + `","args":["config"],"privileged":true}`, status: 400, rule: "unknown_field"},
		{Name: "run with HostConfig", Method: "POST", Path: runPath, Auth: bearer, Body: `{"image":"` + img + `","HostConfig":{"Privileged":true,"Binds":["/:/host"]}}`, status: 400, rule: "unknown_field"},
		{Name: "run with a bind of /", Method: "POST", Path: runPath, Auth: bearer, Body: `{"image":"` + img + `","binds":["/:/host"]}`, status: 400, rule: "unknown_field"},
		{Name: "run with a mount of /", Method: "POST", Path: runPath, Auth: bearer, Body: `{"image":"` + img + `","mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}`, status: 400, rule: "unknown_field"},
		{Name: "run on the host network", Method: "POST", Path: runPath, Auth: bearer, Body: `{"image":"` + img + `","network":"host"}`, status: 400, rule: "unknown_field"},
		{Name: "run as root", Method: "POST", Path: runPath, Auth: bearer, Body: `{"image":"` + img + `","user":"0"}`, status: 400, rule: "unknown_field"},
		{Name: "run with added capabilities", Method: "POST", Path: runPath, Auth: bearer, Body: `{"image":"` + img + `","CapAdd":["SYS_ADMIN"]}`, status: 400, rule: "unknown_field"},
		{Name: "run for an hour", Method: "POST", Path: runPath, Auth: bearer, Body: `{"image":"` + img + `","timeout":"1h"}`, status: 403, rule: "timeout_too_long"},
		{Name: "engine ping", Method: "GET", Path: "/_ping", Auth: bearer, status: 404, rule: "not_found"},
		{Name: "engine container list", Method: "GET", Path: "/v1.41/containers/json", Auth: bearer, status: 404, rule: "not_found"},
		{Name: "engine create privileged", Method: "POST", Path: "/containers/create", Auth: bearer, Body: `{"Image":"` + img + `","HostConfig":{"Privileged":true,"Binds":["/:/host"]}}`, status: 404, rule: "not_found"},
		{Name: "engine service update", Method: "POST", Path: "/v1.41/services/" + webBefore.ID + "/update?version=" + fmt.Sprint(webBefore.Version.Index), Auth: bearer, Body: `{"Name":"` + h.service + `"}`, status: 404, rule: "not_found"},
		{Name: "engine service list", Method: "GET", Path: "/v1.41/services", status: 404, rule: "not_found"},
		{Name: "no secret", Method: "POST", Path: scalePath, Body: `{"replicas":3,"version":1}`, status: 401, rule: "bad_token"},
		{Name: "wrong secret", Method: "POST", Path: scalePath, Auth: "Bearer " + strings.Repeat("0", 64), Body: `{"replicas":3,"version":1}`, status: 401, rule: "bad_token"},
	}
	_, got := h.probe("attack", "container:"+web.Container, base, steps, false)
	checkProbe(h, steps, got)
	if !strings.Contains(got[0].Body, `"service":"`+h.service+`"`) {
		t.Errorf("the guard took the web task for %s", got[0].Body)
	}

	// From the overlay network but no task of a labelled service: a
	// container that joined the attachable network knows the secret too.
	stranger := []probeStep{
		{Name: "stranger identity", Method: "GET", Path: "/guard/v1/whoami", Auth: bearer, status: 403, rule: "unknown_caller"},
		{Name: "stranger scale", Method: "POST", Path: scalePath, Auth: bearer, Body: `{"replicas":3,"version":1}`, status: 403, rule: "unknown_caller"},
		{Name: "stranger run", Method: "POST", Path: runPath, Auth: bearer, Body: `{"image":"` + img + `","args":["config"]}`, status: 403, rule: "unknown_caller"},
	}
	_, got = h.probe("stranger", h.network, base, stranger, false)
	checkProbe(h, stranger, got)

	// Nothing changed, nothing ran.
	if webAfter := h.inspectService(h.service); webAfter.raw != webBefore.raw {
		t.Errorf("web service changed:\nbefore %s\nafter  %s", webBefore.raw, webAfter.raw)
	}
	if guardAfter := h.inspectService(h.guardService()); guardAfter.raw != guardBefore.raw {
		t.Errorf("guard service changed:\nbefore %s\nafter  %s", guardBefore.raw, guardAfter.raw)
	}
	var ran []string
	for id := range h.containerSet() {
		if containersBefore[id] {
			continue
		}
		desc, err := h.docker("inspect", "-f", `{{.Name}} {{.Config.Image}} {{index .Config.Labels "mitosis.e2e"}}`, id)
		if err == nil && !strings.HasSuffix(strings.TrimSpace(desc), " "+h.stack) {
			ran = append(ran, strings.TrimSpace(desc))
		}
	}
	if len(ran) > 0 {
		t.Errorf("containers created during the attacks: %v", ran)
	}
	if out := h.mustDocker("ps", "-aq", "--filter", "ancestor="+evil); strings.TrimSpace(out) != "" {
		t.Errorf("a container of the image off the list exists: %s", out)
	}
	guardRunSettings(h, base, web)
}

// notAllowedImage builds a local image that could run (the test image
// with a label, so another image id) but is not on the guard's
// allow-list; it is removed when the calling (sub)test ends.
func (h *harness) notAllowedImage() string {
	t := h.t
	evil := h.image + "-notallowed"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+h.image+"\nLABEL mitosis.e2e.notallowed=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t.Context(), time.Minute, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "-q", "--label", "mitosis.e2e="+h.stack, "-t", evil, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = h.docker("rmi", "-f", evil) })
	return evil
}

// guardRunSettings: an allowed run works, and its container, seen while
// it runs, has the settings the guard imposes whatever the request said;
// past its timeout it is killed and removed.
func guardRunSettings(h *harness, base string, web task) {
	t := h.t
	bearer := "Bearer " + h.guardToken()
	steps := []probeStep{{Name: "allowed run", Method: "POST", Path: "/guard/v1/run", Auth: bearer,
		Body: `{"image":"` + h.image + `","args":["config"],"env":["MITOSIS_MAX_INFLIGHT=77"],"timeout":"20s"}`, status: 200}}
	_, got := h.probe("run", "container:"+web.Container, base, steps, false)
	checkProbe(h, steps, got)
	var res struct {
		ExitCode int    `json:"exit_code"`
		Stdout   []byte `json:"stdout"`
	}
	if err := json.Unmarshal([]byte(got[0].Body), &res); err != nil || res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "MITOSIS_MAX_INFLIGHT=77") {
		t.Errorf("allowed run: %+v %q, %v; want exit 0 and the setting", res.ExitCode, res.Stdout, err)
	}

	// A run that serves until its timeout: inspect it meanwhile.
	long := []probeStep{{Name: "run past its timeout", Method: "POST", Path: "/guard/v1/run", Auth: bearer,
		Body: `{"image":"` + h.image + `","env":["MITOSIS_DRIVER=off"],"timeout":"8s"}`, status: 504, rule: "run_timeout"}}
	name, _ := h.probe("runlong", "container:"+web.Container, base, long, true)
	defer func() { _, _ = h.docker("rm", "-f", name) }()
	var id string
	if err := eventually(8*time.Second, 200*time.Millisecond, func() bool {
		out, _ := h.docker("ps", "-q", "--filter", "label=mitosis.task", "--filter", "ancestor="+h.image)
		id = strings.TrimSpace(out)
		return id != ""
	}); err != nil {
		t.Fatalf("the long run's container did not show up: %v", err)
	}
	var c struct {
		Config struct {
			User   string
			Labels map[string]string
		}
		HostConfig struct {
			Privileged      bool
			CapAdd, CapDrop []string
			Binds           []string
			Mounts          []any
			Devices         []any
			NetworkMode     string
			PidMode         string
			IpcMode         string
			ReadonlyRootfs  bool
			Memory          int64
			NanoCpus        int64
			PidsLimit       *int64
		}
	}
	out := h.mustDocker("inspect", "--format", "{{json .}}", id)
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	hc := c.HostConfig
	t.Logf("function container: %+v labels %v user %q", hc, c.Config.Labels, c.Config.User)
	if hc.Privileged || len(hc.CapAdd) > 0 || !slices.Contains(hc.CapDrop, "ALL") || len(hc.Binds) > 0 || len(hc.Mounts) > 0 ||
		len(hc.Devices) > 0 || hc.NetworkMode != h.network || hc.PidMode == "host" || hc.IpcMode == "host" || !hc.ReadonlyRootfs ||
		hc.Memory <= 0 || hc.NanoCpus <= 0 || hc.PidsLimit == nil || *hc.PidsLimit <= 0 {
		t.Errorf("the function container's settings are not the forced-safe ones: %+v", hc)
	}
	if u, _, _ := strings.Cut(c.Config.User, ":"); u == "" || u == "0" || u == "root" {
		t.Errorf("the function container runs as %q, want a non-root user", c.Config.User)
	}
	if c.Config.Labels["mitosis.task.group"] != h.service || !strings.HasPrefix(c.Config.Labels["mitosis.task.owner"], h.service+".") {
		t.Errorf("the function container's owner labels do not name the calling task of %s: %v", h.service, c.Config.Labels)
	}
	h.mustDocker("wait", name)
	logs := h.mustDocker("logs", name)
	checkProbe(h, long, parseProbe(h, logs))
	if out, _ := h.docker("ps", "-aq", "--filter", "label=mitosis.task"); strings.TrimSpace(out) != "" {
		t.Errorf("function containers left behind: %s", out)
	}
}

// guardLogTime matches the time of a guard log line (slog text format).
var guardLogTime = regexp.MustCompile(`^time=(\S+) `)

// guardKilled: `docker kill` of the guard task under a load step: no
// request fails (serving does not need the guard); the replicas cannot
// scale until Swarm restarts the guard, and then scale within two ticks
// (1 s each here) of the first call the new guard answers.
func guardKilled(h *harness, svc string) {
	t := h.t
	// From the minimum, so that the load step needs a scale-up.
	if _, err := h.waitReplicas("at the minimum", 2*time.Minute, func(r, d int) bool { return r == 2 && d == 2 }); err != nil {
		t.Fatal(err)
	}
	old, _ := h.guardContainer()
	bg := h.startLoad("bgG", "-url", svc+"/work?ms=20", "-c", "1", "-d", "10m", "-keepalive=false")
	h.mustDocker("kill", old)
	killed := time.Now()
	// 10 at a time wants 4 replicas (target 4 × 0.7 each), so the way back
	// down is one step.
	step := h.startLoad("stepG", "-url", svc+"/work?ms=200", "-c", "10", "-d", "20s", "-keepalive=false")
	if _, err := h.waitReplicas("scale up after the guard's restart", 75*time.Second, func(r, d int) bool { return r >= 3 }); err != nil {
		t.Error(err)
	}
	requireNoFailures(t, "load step", step.result())
	requireNoFailures(t, "background load", bg.stop())

	cur, _ := h.guardContainer()
	if cur == old {
		t.Fatal("the guard container was not replaced")
	}
	logs, err := run(t.Context(), time.Minute, nil, "sh", "-c", "docker logs "+cur+" 2>&1")
	if err != nil {
		t.Fatal(err)
	}
	var listening, back, scaled time.Time
	for _, line := range strings.Split(logs, "\n") {
		m := guardLogTime.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			continue
		}
		switch {
		case listening.IsZero() && strings.Contains(line, `msg="guard: listening"`):
			listening = at
		case back.IsZero() && strings.Contains(line, `msg="guard: call"`) && strings.Contains(line, "result=ok"):
			back = at
		}
		if scaled.IsZero() && strings.Contains(line, "action=scale result=ok") {
			scaled = at
		}
	}
	if back.IsZero() || scaled.IsZero() {
		lines := strings.Split(strings.TrimSpace(logs), "\n")
		t.Fatalf("no answered call (%v) or no scale (%v) in the new guard's log; its end:\n%s", back, scaled, strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
	t.Logf("guard killed at %s; new guard listening %s later, first answer %s after that, first scale %s after the first answer",
		killed.UTC().Format("15:04:05.000"), listening.Sub(killed).Round(time.Millisecond), back.Sub(listening).Round(time.Millisecond), scaled.Sub(back).Round(time.Millisecond))
	if d := scaled.Sub(back); d > 2*time.Second {
		t.Errorf("scaling resumed %s after the guard answered again, want within two ticks (2s)", d)
	}
}
