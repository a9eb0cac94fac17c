package spawner

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func newTestTasks(t *testing.T, f *fakeEngine, cfg TaskConfig) *Tasks {
	t.Helper()
	tk, err := NewTasks(f.engine(t, ""), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// withLogs makes every container the fake creates print logs (and echo
// its stdin with echo) and exit with code.
func withLogs(f *fakeEngine, code int, echo bool, logs ...fakeLog) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCreate = func(c *fakeContainer) { c.Exit, c.Logs, c.Echo = code, logs, echo }
}

func TestRunTask(t *testing.T) {
	tests := []struct {
		name       string
		maxErr     int
		code       int
		echo       bool
		stdin      string
		logs       []fakeLog
		out, errs  string
		stderrCut  bool
		wantCalled []string
	}{
		{name: "stdout apart from stderr", maxErr: 64, logs: []fakeLog{{Text: "hello "}, {Stderr: true, Text: "warn"}, {Text: "bye"}},
			out: "hello bye", errs: "warn"},
		{name: "stdin in, stdout out", maxErr: 64, echo: true, stdin: "vote=a", logs: []fakeLog{{Text: "got:"}}, out: "got:vote=a"},
		{name: "exit code is a result", maxErr: 64, code: 3, logs: []fakeLog{{Stderr: true, Text: "boom"}}, errs: "boom"},
		{name: "stderr cut, run goes on", maxErr: 4, logs: []fakeLog{{Stderr: true, Text: "abc"}, {Stderr: true, Text: "defgh"}, {Text: "ok"}},
			out: "ok", errs: "abcd", stderrCut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine(t)
			withLogs(f, tt.code, tt.echo, tt.logs...)
			cfg := DefaultTaskConfig()
			cfg.MaxStderr = tt.maxErr
			cfg.Owner, cfg.Group = "web-1", "app_web"
			tk := newTestTasks(t, f, cfg)
			now := time.Unix(1_800_000_000, 0)
			tk.now = func() time.Time { return now }
			res, err := tk.RunTask(context.Background(), TaskSpec{
				Image: "vote-worker:1", Args: []string{"record", "cats"}, Env: []string{"X=1"}, Network: "appnet",
				Stdin: []byte(tt.stdin), Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tt.code || string(res.Stdout) != tt.out || string(res.Stderr) != tt.errs || res.StderrTruncated != tt.stderrCut {
				t.Fatalf("result = {%d %q %q %v}, want {%d %q %q %v}", res.ExitCode, res.Stdout, res.Stderr, res.StderrTruncated,
					tt.code, tt.out, tt.errs, tt.stderrCut)
			}
			if len(f.Containers) != 0 {
				t.Fatalf("%d containers left", len(f.Containers))
			}
			var ops []string
			for _, c := range f.calls() {
				if i := strings.LastIndex(c, "/"); strings.HasPrefix(c, "POST /containers") || strings.HasPrefix(c, "DELETE") {
					ops = append(ops, c[i+1:])
				}
			}
			if len(ops) != 5 || !slices.Equal(ops[:4], []string{"create", "attach", "start", "wait"}) || !strings.HasPrefix(f.calls()[len(f.calls())-1], "DELETE") {
				t.Fatalf("calls %v, want create, attach, start, wait, delete", f.calls())
			}
			c := f.created[0]
			if c.Config.Image != "vote-worker:1" || !slices.Equal(c.Config.Cmd, []string{"record", "cats"}) ||
				!slices.Equal(c.Config.Env, []string{"X=1"}) || c.Nets["appnet"] == nil || string(c.Stdin) != tt.stdin {
				t.Fatalf("created %+v on %v with stdin %q", c.Config, c.Nets, c.Stdin)
			}
			wantLabels := map[string]string{LabelTask: "1", LabelTaskOwner: "web-1", LabelTaskGroup: "app_web",
				LabelTaskDeadline: strconv.FormatInt(now.Add(time.Minute).Unix(), 10)}
			for k, v := range wantLabels {
				if c.Config.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, c.Config.Labels[k], v)
				}
			}
		})
	}
}

// TestRunTaskForcedSafe: every task container gets the same locked-down
// host settings, whatever the spec says.
func TestRunTaskForcedSafe(t *testing.T) {
	for _, network := range []string{"", "none", "appnet"} {
		f := newFakeEngine(t)
		withLogs(f, 0, false)
		cfg := DefaultTaskConfig()
		if _, err := newTestTasks(t, f, cfg).RunTask(context.Background(), TaskSpec{Image: "x:1", Network: network}); err != nil {
			t.Fatal(err)
		}
		c := f.created[0]
		h := c.Host
		wantMode := network
		if network == "" {
			wantMode = "none"
		}
		problems := []string{}
		check := func(ok bool, what string) {
			if !ok {
				problems = append(problems, what)
			}
		}
		check(!h.Privileged, "privileged")
		check(slices.Equal(h.CapDrop, []string{"ALL"}) && len(h.CapAdd) == 0, "capabilities")
		check(slices.Contains(h.SecurityOpt, "no-new-privileges"), "no-new-privileges")
		check(h.ReadonlyRootfs, "read-only root")
		check(strings.Contains(h.Tmpfs["/tmp"], "size=16777216") && len(h.Tmpfs) == 1, "tmpfs /tmp")
		check(len(h.Binds) == 0 && len(h.Mounts) == 0 && len(h.Devices) == 0 && len(h.VolumesFrom) == 0, "no binds/mounts/devices")
		check(len(h.PortBindings) == 0 && !h.PublishAllPorts, "no ports")
		check(string(h.NetworkMode) == wantMode, "network mode "+string(h.NetworkMode))
		check(string(h.PidMode) == "" && string(h.IpcMode) == "private" && string(h.UTSMode) == "" && string(h.UsernsMode) == "", "namespaces")
		check(h.Memory == cfg.Memory && h.MemorySwap == cfg.Memory && h.NanoCPUs == cfg.NanoCPUs &&
			h.PidsLimit != nil && *h.PidsLimit == cfg.Pids, "resource caps")
		check(h.LogConfig.Type == "none", "log driver")
		check(c.Config.User == "65534:65534", "user")
		check(c.Config.OpenStdin && c.Config.StdinOnce && !c.Config.Tty, "stdin once, no tty")
		if len(problems) > 0 {
			t.Errorf("network %q: %v not forced: %+v", network, problems, h)
		}
	}
}

func TestRunTaskRefusesSharedNamespaces(t *testing.T) {
	for _, n := range []string{"host", "container:abc", "../x", "a b"} {
		f := newFakeEngine(t)
		if _, err := newTestTasks(t, f, DefaultTaskConfig()).RunTask(context.Background(), TaskSpec{Image: "x:1", Network: n}); err == nil {
			t.Errorf("network %q: no error", n)
		}
		if len(f.created) != 0 {
			t.Errorf("network %q: a container was created", n)
		}
	}
}

func TestRunTaskRemovesOnFailure(t *testing.T) {
	t.Run("start fails", func(t *testing.T) {
		f := newFakeEngine(t)
		f.StartError = "exec format error"
		_, err := newTestTasks(t, f, DefaultTaskConfig()).RunTask(context.Background(), TaskSpec{Image: "x:1"})
		if err == nil || !strings.Contains(err.Error(), "exec format error") {
			t.Fatalf("err = %v", err)
		}
		if len(f.Containers) != 0 {
			t.Fatalf("%d containers left", len(f.Containers))
		}
	})
	t.Run("timeout kills and removes", func(t *testing.T) {
		f := newFakeEngine(t)
		f.WaitDelay = time.Minute
		start := time.Now()
		_, err := newTestTasks(t, f, DefaultTaskConfig()).RunTask(context.Background(), TaskSpec{Image: "x:1", Timeout: 100 * time.Millisecond})
		if !errors.Is(err, ErrTaskTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want ErrTaskTimeout", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("timeout not applied")
		}
		if len(f.Containers) != 0 {
			t.Fatalf("%d containers left", len(f.Containers))
		}
		if !slices.ContainsFunc(f.calls(), func(c string) bool { return strings.HasSuffix(c, "/kill") }) {
			t.Fatalf("no kill in %v", f.calls())
		}
	})
	t.Run("stdout over the cap kills", func(t *testing.T) {
		f := newFakeEngine(t)
		f.WaitDelay = time.Minute // it would run on
		withLogs(f, 0, false, fakeLog{Text: "abc"}, fakeLog{Text: "defgh"})
		cfg := DefaultTaskConfig()
		cfg.MaxOutput = 4
		res, err := newTestTasks(t, f, cfg).RunTask(context.Background(), TaskSpec{Image: "x:1"})
		if !errors.Is(err, ErrOutputLimit) || string(res.Stdout) != "abcd" {
			t.Fatalf("err = %v, stdout %q; want ErrOutputLimit and the first 4 bytes", err, res.Stdout)
		}
		if len(f.Containers) != 0 || !slices.ContainsFunc(f.calls(), func(c string) bool { return strings.HasSuffix(c, "/kill") }) {
			t.Fatalf("%d containers left, calls %v", len(f.Containers), f.calls())
		}
	})
	t.Run("removal retried", func(t *testing.T) {
		f := newFakeEngine(t)
		withLogs(f, 0, false, fakeLog{Text: "ok"})
		f.RemoveFailures = 2
		if _, err := newTestTasks(t, f, DefaultTaskConfig()).RunTask(context.Background(), TaskSpec{Image: "x:1"}); err != nil {
			t.Fatal(err)
		}
		if len(f.Containers) != 0 {
			t.Fatalf("%d containers left after two failed removals", len(f.Containers))
		}
	})
	t.Run("create fails", func(t *testing.T) {
		f := newFakeEngine(t)
		f.CreateError = "No such image: x:1"
		if _, err := newTestTasks(t, f, DefaultTaskConfig()).RunTask(context.Background(), TaskSpec{Image: "x:1"}); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("no image", func(t *testing.T) {
		f := newFakeEngine(t)
		if _, err := newTestTasks(t, f, DefaultTaskConfig()).RunTask(context.Background(), TaskSpec{}); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestTaskConfigValidate(t *testing.T) {
	ok := DefaultTaskConfig()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*TaskConfig){
		"root user":     func(c *TaskConfig) { c.User = "root" },
		"user injected": func(c *TaskConfig) { c.User = "0 --privileged" },
		"tiny memory":   func(c *TaskConfig) { c.Memory = 1 },
		"no pids":       func(c *TaskConfig) { c.Pids = 0 },
		"owner label":   func(c *TaskConfig) { c.Owner = "a=b" },
		"tmpfs > mem":   func(c *TaskConfig) { c.TmpfsBytes = c.Memory + 1 },
	} {
		c := ok
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestSweep(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	deadline := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	f := newFakeEngine(t)
	add := func(id string, labels map[string]string) {
		f.addContainer(&fakeContainer{ID: id, State: "running", Config: configWithLabels(labels)})
	}
	add("own-running", map[string]string{LabelTask: "1", LabelTaskOwner: "web-1", LabelTaskGroup: "app_web", LabelTaskDeadline: deadline(time.Hour)})
	add("sibling-live", map[string]string{LabelTask: "1", LabelTaskOwner: "web-2", LabelTaskGroup: "app_web", LabelTaskDeadline: deadline(0)})
	add("sibling-overdue", map[string]string{LabelTask: "1", LabelTaskOwner: "web-3", LabelTaskGroup: "app_web", LabelTaskDeadline: deadline(-2 * time.Minute)})
	add("other-group", map[string]string{LabelTask: "1", LabelTaskOwner: "x-1", LabelTaskGroup: "other", LabelTaskDeadline: deadline(-time.Hour)})
	add("not-a-task", map[string]string{LabelTaskOwner: "web-1", LabelTaskGroup: "app_web"})
	cfg := DefaultTaskConfig()
	cfg.Owner, cfg.Group = "web-1", "app_web"
	add("own-live", map[string]string{LabelTask: "1", LabelTaskOwner: "web-1", LabelTaskGroup: "app_web", LabelTaskDeadline: deadline(time.Hour)})
	tk := newTestTasks(t, f, cfg)
	tk.now = func() time.Time { return now }
	tk.setLive("own-live", true) // a run in progress
	n, err := tk.Sweep(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("Sweep = %d, %v; want 2 removed", n, err)
	}
	var left []string
	for id := range f.Containers {
		left = append(left, id)
	}
	slices.Sort(left)
	if want := []string{"not-a-task", "other-group", "own-live", "sibling-live"}; !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
}
