package spawner

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

func TestProcessConfigValidate(t *testing.T) {
	valid := func() ProcessConfig {
		c := DefaultProcessConfig()
		c.Binary, c.ParentAdmin = "/bin/mitosis", "127.0.0.1:9090"
		return c
	}
	tests := []struct {
		name string
		mod  func(*ProcessConfig)
		want []string // fragments of the error; none: valid
	}{
		{"defaults plus admin are valid", func(*ProcessConfig) {}, nil},
		{"missing admin", func(c *ProcessConfig) { c.ParentAdmin = "" }, []string{`parent admin = ""`, "host:port"}},
		{"admin without port", func(c *ProcessConfig) { c.ParentAdmin = "localhost" }, []string{`parent admin = "localhost"`}},
		{"empty binary", func(c *ProcessConfig) { c.Binary = "" }, []string{`binary = ""`}},
		{"empty parent id", func(c *ProcessConfig) { c.ParentID = "" }, []string{`parent id = ""`}},
		{"zero start timeout", func(c *ProcessConfig) { c.StartTimeout = 0 }, []string{"start timeout = 0s, must be > 0"}},
		{"negative stop timeout", func(c *ProcessConfig) { c.StopTimeout = -time.Second }, []string{"stop timeout = -1s"}},
		{"max backoff below first", func(c *ProcessConfig) { c.MaxRestartBackoff = 10 * time.Millisecond },
			[]string{"max restart backoff = 10ms, must be >= restart backoff (1s)"}},
		{"every problem at once", func(c *ProcessConfig) { c.Binary, c.PollInterval = "", 0 },
			[]string{`binary = ""`, "poll interval = 0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mod(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want an error with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestNewProcessDefaults(t *testing.T) {
	if _, err := NewProcess(ProcessConfig{}); err == nil || !strings.Contains(err.Error(), "parent admin") {
		t.Fatalf("NewProcess without ParentAdmin: %v, want a parent admin error", err)
	}
	p, err := NewProcess(ProcessConfig{ParentAdmin: "0.0.0.0:9090"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	exe, _ := os.Executable()
	c := p.cfg
	if c.Binary != exe || !slices.Equal(c.Args, os.Args[1:]) || len(c.Env) != len(os.Environ()) ||
		c.StartTimeout != DefaultStartTimeout || c.StopTimeout != DefaultStopTimeout || c.Load == nil {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.ParentAdmin != "127.0.0.1:9090" {
		t.Errorf("ParentAdmin = %q, want the wildcard made loopback", c.ParentAdmin)
	}
	st, _ := p.Status(context.Background())
	if st.Desired != 1 || st.Running != 1 || len(p.Replicas()) != 0 {
		t.Errorf("a new driver reports %+v with %d children, want the parent alone", st, len(p.Replicas()))
	}
	p2, err := NewProcess(ProcessConfig{ParentAdmin: "127.0.0.1:9090", Args: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close(context.Background())
	if p2.cfg.Args == nil || len(p2.cfg.Args) != 0 {
		t.Errorf("Args = %q, want an explicit empty list kept", p2.cfg.Args)
	}
}

func TestLoopbackAdmin(t *testing.T) {
	for in, want := range map[string]string{
		":9090":          "127.0.0.1:9090",
		"0.0.0.0:9090":   "127.0.0.1:9090",
		"[::]:9090":      "127.0.0.1:9090",
		"127.0.0.1:9091": "127.0.0.1:9091",
		"10.0.0.5:9090":  "10.0.0.5:9090",
		"localhost:9090": "localhost:9090",
	} {
		if got := loopbackAdmin(in); got != want {
			t.Errorf("loopbackAdmin(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChildEnvReplacesDriverKeys(t *testing.T) {
	base := []string{"PATH=/bin", "MITOSIS_DRIVER=swarm", "MITOSIS_MAX_INFLIGHT=8", "MITOSIS_PEERS=a:1,b:2"}
	got := childEnv(base, [][2]string{{"MITOSIS_DRIVER", "off"}, {"MITOSIS_PEERS", "127.0.0.1:9090"}})
	want := []string{"PATH=/bin", "MITOSIS_MAX_INFLIGHT=8", "MITOSIS_DRIVER=off", "MITOSIS_PEERS=127.0.0.1:9090"}
	if !slices.Equal(got, want) {
		t.Errorf("childEnv = %q, want %q", got, want)
	}
}

func TestStateLoad(t *testing.T) {
	state := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_mitosis/state" {
			http.NotFound(w, r)
			return
		}
		if !pool.TokenOK(r, "tok") {
			http.Error(w, "token", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(pool.State{ID: "x", Inflight: 3, Queued: 2, Capacity: 8})
	}))
	defer state.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer broken.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("not json"))
	}))
	defer garbage.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	p, err := NewProcess(ProcessConfig{ParentAdmin: "127.0.0.1:9090", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	tests := []struct {
		name    string
		addr    string
		want    int
		wantErr bool
	}{
		{"inflight plus queued", strings.TrimPrefix(state.URL, "http://"), 5, false},
		{"error status", strings.TrimPrefix(broken.URL, "http://"), 0, true},
		{"not json", strings.TrimPrefix(garbage.URL, "http://"), 0, true},
		{"dead address", dead, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.cfg.Load(context.Background(), tt.addr)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Load(%s) = %d, %v; want %d, error %v", tt.addr, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestWatchParent(t *testing.T) {
	t.Run("closes when the parent is not pid", func(t *testing.T) {
		gone := WatchParent(context.Background(), os.Getppid()+1, time.Hour)
		select {
		case <-gone:
		case <-time.After(5 * time.Second):
			t.Fatal("not closed for a parent that is not ours")
		}
	})
	t.Run("stays open while the parent lives and after ctx ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		gone := WatchParent(ctx, os.Getppid(), 5*time.Millisecond)
		// WatchParent has no hook: a few periods of checks pass, during
		// which it must not close. Nothing to wait for otherwise.
		time.Sleep(30 * time.Millisecond)
		cancel()
		time.Sleep(10 * time.Millisecond) // and a moment after ctx ends, for the same reason
		select {
		case <-gone:
			t.Fatal("closed although the parent is alive")
		default:
		}
	})
}
