//go:build unix

package spawner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// procLog is a slog.Handler keeping every record, for assertions on what
// the driver reported (exit statuses, backoffs).
type procLog struct {
	mu   sync.Mutex
	recs []logRec
}

type logRec struct {
	msg   string
	attrs map[string]string
}

func (r *procLog) Enabled(context.Context, slog.Level) bool { return true }
func (r *procLog) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *procLog) WithGroup(string) slog.Handler            { return r }
func (r *procLog) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	r.recs = append(r.recs, logRec{rec.Message, m})
	r.mu.Unlock()
	return nil
}

// find returns the records whose message starts with prefix and whose
// attributes include all of kv (key, value pairs).
func (r *procLog) find(prefix string, kv ...string) []logRec {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []logRec
next:
	for _, rec := range r.recs {
		if !strings.HasPrefix(rec.msg, prefix) {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if rec.attrs[kv[i]] != kv[i+1] {
				continue next
			}
		}
		out = append(out, rec)
	}
	return out
}

func (r *procLog) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, rec := range r.recs {
		fmt.Fprintf(&b, "  %s %v\n", rec.msg, rec.attrs)
	}
	return b.String()
}

// childTestEnv is the environment of a fake child. The race runtime sleeps
// one second at exit by default (GORACE atexit_sleep_ms); the children need
// not, and every test would wait for it.
func childTestEnv() []string {
	return append(os.Environ(), "MITOSIS_TEST_CHILD=1", "GORACE=atexit_sleep_ms=0")
}

// newTestProcess starts a Process whose children are this test binary in
// fakeChild mode, with fast timings; extraEnv configures the children. It is
// closed at cleanup.
func newTestProcess(t *testing.T, mod func(*ProcessConfig), extraEnv ...string) (*Process, *procLog) {
	t.Helper()
	rec := &procLog{}
	cfg := ProcessConfig{
		Binary:         os.Args[0],
		Args:           []string{},
		Env:            append(childTestEnv(), extraEnv...),
		ParentID:       "par",
		ParentAdmin:    ":9090",
		StartTimeout:   10 * time.Second,
		StopTimeout:    5 * time.Second,
		PollInterval:   20 * time.Millisecond,
		RestartBackoff: 50 * time.Millisecond,
		Stdout:         os.Stderr,
		Log:            slog.New(rec),
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := NewProcess(cfg)
	if err != nil {
		t.Fatalf("NewProcess: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p, rec
}

// procWaitFor polls cond until it holds, or fails the test once d passed.
func procWaitFor(t *testing.T, d time.Duration, rec *procLog, what string, cond func() bool) {
	t.Helper()
	if !pollUntil(d, cond) {
		t.Fatalf("timed out after %s waiting for %s; log:\n%s", d, what, rec)
	}
}

func procScale(t *testing.T, p *Process, n int) {
	t.Helper()
	st, err := p.Status(context.Background())
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if err := p.Scale(context.Background(), n, st.Version); err != nil {
		t.Fatalf("Scale(%d): %v", n, err)
	}
}

// procReadyChildren waits until exactly n children are listed and ready.
func procReadyChildren(t *testing.T, p *Process, rec *procLog, n int) []Replica {
	t.Helper()
	var rs []Replica
	procWaitFor(t, 10*time.Second, rec, fmt.Sprintf("%d ready children", n), func() bool {
		rs = p.Replicas()
		if len(rs) != n {
			return false
		}
		for _, r := range rs {
			if !r.Ready {
				return false
			}
		}
		return true
	})
	return rs
}

func procGetJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
}

func TestProcessScaleUpStartsReadyChildren(t *testing.T) {
	p, rec := newTestProcess(t, nil)
	st0, _ := p.Status(context.Background())
	if st0.Desired != 1 || st0.Running != 1 {
		t.Fatalf("initial Status = %+v, want the parent alone (1/1)", st0)
	}
	start := time.Now()
	procScale(t, p, 3)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Scale blocked for %s; it must only record the wish", d)
	}
	st, _ := p.Status(context.Background())
	if st.Desired != 3 || st.Version != st0.Version+1 {
		t.Errorf("Status after Scale = %+v, want Desired 3 and version %d", st, st0.Version+1)
	}
	rs := procReadyChildren(t, p, rec, 2)
	st, _ = p.Status(context.Background())
	if st.Running != 3 || st.Desired != 3 {
		t.Errorf("Status = %+v, want Running 3, Desired 3", st)
	}
	if rs[0].ID != "par-1" || rs[1].ID != "par-2" {
		t.Errorf("ids = %s, %s; want par-1, par-2", rs[0].ID, rs[1].ID)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		for _, a := range []string{r.Addr, r.AdminAddr} {
			if !strings.HasPrefix(a, "127.0.0.1:") || seen[a] {
				t.Errorf("address %q: want a distinct 127.0.0.1 port", a)
			}
			seen[a] = true
		}
		if !pidAlive(r.PID) {
			t.Errorf("child %s pid %d is not running", r.ID, r.PID)
		}
		// The public listener is the child's own: it answers with its id.
		resp, err := http.Get("http://" + r.Addr + "/")
		if err != nil {
			t.Fatalf("GET public %s: %v", r.Addr, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.TrimSpace(string(body)); got != r.ID {
			t.Errorf("public %s answered %q, want %q", r.Addr, got, r.ID)
		}
	}

	var env map[string]string
	procGetJSON(t, "http://"+rs[1].AdminAddr+"/env", &env)
	want := map[string]string{
		"MITOSIS_LISTEN":       rs[1].Addr,
		"MITOSIS_ADMIN_LISTEN": rs[1].AdminAddr,
		"MITOSIS_DRIVER":       "off",
		"MITOSIS_DISCOVERY":    "static",
		"MITOSIS_PEERS":        "127.0.0.1:9090", // ":9090" made loopback
		"MITOSIS_REPLICA_ID":   "par-2",
		"MITOSIS_PARENT_PID":   strconv.Itoa(os.Getpid()),
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("child env %s = %q, want %q", k, env[k], v)
		}
	}
}

func TestProcessScaleDownRetiresIdlest(t *testing.T) {
	tests := []struct {
		name    string
		loads   map[string]int // by child id
		retired string
	}{
		{"the idlest goes even when older", map[string]int{"par-1": 0, "par-2": 5}, "par-1"},
		{"a tie retires the newest", map[string]int{"par-1": 3, "par-2": 3}, "par-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			byAdmin := map[string]int{}
			p, rec := newTestProcess(t, func(c *ProcessConfig) {
				c.Load = func(_ context.Context, admin string) (int, error) {
					mu.Lock()
					defer mu.Unlock()
					l, ok := byAdmin[admin]
					if !ok {
						return 0, fmt.Errorf("unknown child %s", admin)
					}
					return l, nil
				}
			})
			procScale(t, p, 3)
			rs := procReadyChildren(t, p, rec, 2)
			pids := map[string]int{}
			mu.Lock()
			for _, r := range rs {
				byAdmin[r.AdminAddr] = tt.loads[r.ID]
				pids[r.ID] = r.PID
			}
			mu.Unlock()

			procScale(t, p, 2)
			procWaitFor(t, 2*time.Second, rec, "one child listed", func() bool { return len(p.Replicas()) == 1 })
			kept := p.Replicas()[0]
			if kept.ID == tt.retired {
				t.Fatalf("kept %s, want it retired", kept.ID)
			}
			procWaitFor(t, 5*time.Second, rec, tt.retired+" to exit", func() bool { return len(rec.find("child exited", "id", tt.retired)) == 1 })
			// Exit code 0: it got SIGTERM and drained, it was not killed.
			if got := rec.find("child exited", "id", tt.retired, "code", "0"); len(got) != 1 {
				t.Errorf("no clean exit logged for %s; log:\n%s", tt.retired, rec)
			}
			if pidAlive(pids[tt.retired]) {
				t.Errorf("retired child %s (pid %d) still running", tt.retired, pids[tt.retired])
			}
			if !pidAlive(kept.PID) {
				t.Errorf("kept child %s (pid %d) is gone", kept.ID, kept.PID)
			}
			st, _ := p.Status(context.Background())
			if st.Desired != 2 || st.Running != 2 {
				t.Errorf("Status = %+v, want 2/2", st)
			}
		})
	}
}

func TestProcessScaleErrors(t *testing.T) {
	p, _ := newTestProcess(t, func(c *ProcessConfig) { c.Binary = "/nonexistent/mitosis" })
	ctx := context.Background()
	st, _ := p.Status(ctx)
	if err := p.Scale(ctx, 1, st.Version+1); !IsConflict(err) {
		t.Errorf("Scale with a future version: %v, want a conflict", err)
	}
	if err := p.Scale(ctx, 1, st.Version); err != nil {
		t.Fatalf("Scale with the current version: %v", err)
	}
	if err := p.Scale(ctx, 1, st.Version); !IsConflict(err) {
		t.Errorf("Scale with the version used already: %v, want a conflict", err)
	}
	st2, _ := p.Status(ctx)
	if err := p.Scale(ctx, 0, st2.Version); err == nil || IsConflict(err) {
		t.Errorf("Scale(0): %v, want a plain error", err)
	}
	if st3, _ := p.Status(ctx); st3 != st2 {
		t.Errorf("a refused Scale changed Status from %+v to %+v", st2, st3)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.Scale(ctx, 2, st2.Version); !errors.Is(err, ErrClosed) {
		t.Errorf("Scale after Close: %v, want ErrClosed", err)
	}
}

func TestProcessStartFailureBacksOff(t *testing.T) {
	p, rec := newTestProcess(t, func(c *ProcessConfig) { c.Binary = "/nonexistent/mitosis" })
	procScale(t, p, 2)
	procWaitFor(t, 3*time.Second, rec, "three failed starts", func() bool { return len(rec.find("child start failed")) >= 3 })
	got := rec.find("child start failed")
	for i, want := range []string{"50ms", "100ms", "200ms"} {
		if got[i].attrs["retry_in"] != want {
			t.Errorf("failure %d: retry_in = %s, want %s", i+1, got[i].attrs["retry_in"], want)
		}
	}
	if st, _ := p.Status(context.Background()); st.Running != 1 {
		t.Errorf("Running = %d, want 1", st.Running)
	}
}

func TestProcessReplacesKilledChild(t *testing.T) {
	p, rec := newTestProcess(t, nil)
	procScale(t, p, 2)
	old := procReadyChildren(t, p, rec, 1)[0]
	if err := syscall.Kill(old.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var nu Replica
	procWaitFor(t, 10*time.Second, rec, "a ready replacement", func() bool {
		rs := p.Replicas()
		if len(rs) != 1 || !rs[0].Ready || rs[0].PID == old.PID {
			return false
		}
		nu = rs[0]
		return true
	})
	if nu.ID != "par-2" {
		t.Errorf("replacement id = %s, want par-2", nu.ID)
	}
	if got := rec.find("child exited unexpectedly", "id", old.ID, "exit", "signal: killed"); len(got) != 1 {
		t.Errorf("the crash of %s was not logged with its status; log:\n%s", old.ID, rec)
	}
	if st, _ := p.Status(context.Background()); st.Running != 2 {
		t.Errorf("Running = %d, want 2", st.Running)
	}
}

func TestProcessReplacesChildNeverReady(t *testing.T) {
	p, rec := newTestProcess(t, func(c *ProcessConfig) { c.StartTimeout = 300 * time.Millisecond }, "MITOSIS_TEST_NEVER_READY=1")
	procScale(t, p, 2)
	procWaitFor(t, 8*time.Second, rec, "two children killed for readiness", func() bool {
		return len(rec.find("child killed: not ready in time")) >= 2
	})
	got := rec.find("child killed: not ready in time")
	if got[0].attrs["id"] != "par-1" || got[1].attrs["id"] != "par-2" {
		t.Errorf("killed %s then %s, want par-1 then par-2", got[0].attrs["id"], got[1].attrs["id"])
	}
	if got[0].attrs["retry_in"] != "50ms" || got[1].attrs["retry_in"] != "100ms" {
		t.Errorf("backoffs %s, %s; want 50ms, 100ms", got[0].attrs["retry_in"], got[1].attrs["retry_in"])
	}
	if st, _ := p.Status(context.Background()); st.Running != 1 || st.Desired != 2 {
		t.Errorf("Status = %+v, want Running 1 of Desired 2", st)
	}
}

func TestProcessRetiredChildKilledAfterStopTimeout(t *testing.T) {
	p, rec := newTestProcess(t, func(c *ProcessConfig) { c.StopTimeout = 300 * time.Millisecond }, "MITOSIS_TEST_IGNORE_TERM=1")
	procScale(t, p, 2)
	r := procReadyChildren(t, p, rec, 1)[0]
	procScale(t, p, 1)
	procWaitFor(t, 5*time.Second, rec, "the stubborn child to exit", func() bool { return len(rec.find("child exited", "id", r.ID)) == 1 })
	if len(rec.find("retired child still running; killing", "id", r.ID)) != 1 ||
		len(rec.find("child exited", "id", r.ID, "exit", "signal: killed")) != 1 {
		t.Errorf("want a SIGKILL after the stop timeout; log:\n%s", rec)
	}
	if pidAlive(r.PID) {
		t.Errorf("retired child %s (pid %d) still running", r.ID, r.PID)
	}
}

func TestProcessCloseLeavesNoChild(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		timeout time.Duration
		wantErr bool
	}{
		{"children drain on SIGTERM", nil, 5 * time.Second, false},
		{"children ignoring SIGTERM are killed at the deadline", []string{"MITOSIS_TEST_IGNORE_TERM=1"}, 300 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, rec := newTestProcess(t, nil, tt.env...)
			procScale(t, p, 3)
			rs := procReadyChildren(t, p, rec, 2)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			err := p.Close(ctx)
			if (err != nil) != tt.wantErr {
				t.Errorf("Close: %v, want error %v", err, tt.wantErr)
			}
			for _, r := range rs {
				if err := syscall.Kill(r.PID, 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("child %s (pid %d) survived Close: kill(0) = %v", r.ID, r.PID, err)
				}
			}
			if n := len(p.Replicas()); n != 0 {
				t.Errorf("Replicas after Close lists %d children", n)
			}
		})
	}
}
