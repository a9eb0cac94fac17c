package spawner

import (
	"context"
	"errors"
	"slices"
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

// withLogs makes every container the fake creates print logs and exit
// with code, by filling them in when the container is started.
func withLogs(f *fakeEngine, code int, logs ...fakeLog) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCreate = func(c *fakeContainer) { c.Exit, c.Logs = code, logs }
}

func TestRunTask(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		code      int
		logs      []fakeLog
		want      string
		truncated bool
	}{
		{"ok", 1 << 20, 0, []fakeLog{{Text: "hello "}, {Stderr: true, Text: "warn "}, {Text: "bye"}}, "hello warn bye", false},
		{"exit code is a result", 1 << 20, 3, []fakeLog{{Stderr: true, Text: "boom"}}, "boom", false},
		{"output capped", 4, 0, []fakeLog{{Text: "abc"}, {Text: "defgh"}}, "abcd", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEngine(t)
			withLogs(f, tt.code, tt.logs...)
			cfg := DefaultTaskConfig()
			cfg.MaxOutput = tt.max
			res, err := newTestTasks(t, f, cfg).RunTask(context.Background(), TaskSpec{
				Image: "vote-worker:1", Args: []string{"record", "cats"}, Env: []string{"X=1"}, Network: "appnet"})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tt.code || string(res.Output) != tt.want || res.Truncated != tt.truncated {
				t.Fatalf("result = {%d %q %v}, want {%d %q %v}", res.ExitCode, res.Output, res.Truncated, tt.code, tt.want, tt.truncated)
			}
			if len(f.Containers) != 0 {
				t.Fatalf("%d containers left", len(f.Containers))
			}
			calls := f.calls()
			var ops []string
			for _, c := range calls {
				switch {
				case strings.HasSuffix(c, "/create"), strings.HasSuffix(c, "/start"), strings.HasSuffix(c, "/wait"),
					strings.HasSuffix(c, "/logs"), strings.HasPrefix(c, "DELETE"):
					ops = append(ops, c[strings.LastIndex(c, "/")+1:])
				}
			}
			wantOps := []string{"create", "start", "wait", "logs", ops[len(ops)-1]}
			if !slices.Equal(ops, wantOps) || !strings.HasPrefix(calls[len(calls)-1], "DELETE") {
				t.Fatalf("calls %v, want create, start, wait, logs, delete", calls)
			}
			c := f.created[0]
			if c.Config.Image != "vote-worker:1" || !slices.Equal(c.Config.Cmd, []string{"record", "cats"}) ||
				!slices.Equal(c.Config.Env, []string{"X=1"}) || c.Config.Labels[LabelTask] != "1" || c.Nets["appnet"] == nil {
				t.Fatalf("created %+v on %v", c.Config, c.Nets)
			}
		})
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
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
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
