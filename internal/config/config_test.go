package config

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// errLines is what a user sees for err: one "mitosis: ..." line per problem.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return Problems(err)
}

func TestLoadConfigDefaults(t *testing.T) {
	c, rest, warnings, err := Load(nil, nil)
	if err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if len(rest) != 0 || len(warnings) != 0 {
		t.Fatalf("rest %q, warnings %q; want none", rest, warnings)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Listen", c.Listen, ":8080"},
		{"AdminListen", c.AdminListen, ":9090"},
		{"Upstream", c.Upstream, ""},
		{"MaxInflight", c.Balancer.MaxInflight, 100},
		{"QueueMax", c.Balancer.QueueMax, 1000},
		{"QueueTimeout", c.Balancer.QueueTimeout, 5 * time.Second},
		{"ReplicaHeader", c.Balancer.ReplicaHeader, true},
		{"ClusterToken", c.Balancer.ClusterToken, ""},
		{"DrainDelay", c.DrainDelay, 2 * time.Second},
		{"DrainTimeout", c.DrainTimeout, 8 * time.Second},
		{"LogLevel", c.LogLevel, slog.LevelInfo},
		{"LogFormat", c.LogFormat, "text"},
		{"Discovery", c.Discovery, "auto"},
		{"Driver", c.Driver, "auto"},
		{"SyncInterval", c.Health.Interval, time.Second},
		{"MinReplicas", c.Autoscale.MinReplicas, 1},
		{"MaxReplicas", c.Autoscale.MaxReplicas, 10},
		{"ParentPID", c.ParentPID, 0},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if c.ReplicaID == "" {
		t.Error("ReplicaID is empty, want the host name")
	}
}

func TestLoadConfigBadValue(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		// want are substrings of the single error line: the variable and
		// the value as the user wrote it.
		want []string
	}{
		{"int", []string{"MITOSIS_MAX_INFLIGHT=lots"}, []string{"MITOSIS_MAX_INFLIGHT", "lots", "whole number"}},
		{"int range", []string{"MITOSIS_MAX_INFLIGHT=0"}, []string{"MITOSIS_MAX_INFLIGHT=0", "[1; 1000000]"}},
		{"negative int", []string{"MITOSIS_QUEUE_MAX=-1"}, []string{"MITOSIS_QUEUE_MAX=-1"}},
		{"duration", []string{"MITOSIS_QUEUE_TIMEOUT=5"}, []string{"MITOSIS_QUEUE_TIMEOUT", `"5"`, "duration"}},
		{"bool", []string{"MITOSIS_REPLICA_HEADER=yes please"}, []string{"MITOSIS_REPLICA_HEADER", "yes please", "true or false"}},
		{"float", []string{"MITOSIS_TARGET_CONCURRENCY=ten"}, []string{"MITOSIS_TARGET_CONCURRENCY", "ten", "number"}},
		{"float range", []string{"MITOSIS_TARGET_UTILIZATION=1.5"}, []string{"MITOSIS_TARGET_UTILIZATION=1.5"}},
		{"enum driver", []string{"MITOSIS_DRIVER=kubernetes"}, []string{"MITOSIS_DRIVER", "kubernetes", "process"}},
		{"enum discovery", []string{"MITOSIS_DISCOVERY=consul"}, []string{"MITOSIS_DISCOVERY", "consul", "static"}},
		{"enum log format", []string{"MITOSIS_LOG_FORMAT=xml"}, []string{"MITOSIS_LOG_FORMAT", "xml"}},
		{"log level", []string{"MITOSIS_LOG_LEVEL=loud"}, []string{"MITOSIS_LOG_LEVEL", "loud"}},
		{"negative queue timeout", []string{"MITOSIS_QUEUE_TIMEOUT=-1s"}, []string{"MITOSIS_QUEUE_TIMEOUT=-1s"}},
		{"negative drain delay", []string{"MITOSIS_DRAIN_DELAY=-1s"}, []string{"MITOSIS_DRAIN_DELAY=-1s"}},
		{"negative read header timeout", []string{"MITOSIS_READ_HEADER_TIMEOUT=-2s"}, []string{"MITOSIS_READ_HEADER_TIMEOUT=-2s"}},
		{"negative scale down delay", []string{"MITOSIS_SCALE_DOWN_DELAY=-1m0s"}, []string{"MITOSIS_SCALE_DOWN_DELAY=-1m0s"}},
		{"negative sync interval", []string{"MITOSIS_SYNC_INTERVAL=-1s"}, []string{"MITOSIS_SYNC_INTERVAL", "-1s"}},
		{"drain timeout equal to delay", []string{"MITOSIS_DRAIN_DELAY=5s", "MITOSIS_DRAIN_TIMEOUT=5s"},
			[]string{"MITOSIS_DRAIN_TIMEOUT=5s", "MITOSIS_DRAIN_DELAY"}},
		{"drain timeout below delay", []string{"MITOSIS_DRAIN_DELAY=5s", "MITOSIS_DRAIN_TIMEOUT=1s"},
			[]string{"MITOSIS_DRAIN_TIMEOUT=1s", "MITOSIS_DRAIN_DELAY (5s)"}},
		{"max below min replicas", []string{"MITOSIS_MIN_REPLICAS=5", "MITOSIS_MAX_REPLICAS=3"},
			[]string{"MITOSIS_MAX_REPLICAS=3", "MITOSIS_MIN_REPLICAS (5)"}},
		{"upstream scheme", []string{"MITOSIS_UPSTREAM=ftp://files:21"}, []string{"MITOSIS_UPSTREAM", "ftp://files:21", "http://"}},
		{"upstream no host", []string{"MITOSIS_UPSTREAM=localhost:3000"}, []string{"MITOSIS_UPSTREAM", "localhost:3000"}},
		{"same listen and admin", []string{"MITOSIS_LISTEN=127.0.0.1:9000", "MITOSIS_ADMIN_LISTEN=127.0.0.1:9000"},
			[]string{"MITOSIS_ADMIN_LISTEN", "127.0.0.1:9000", "MITOSIS_LISTEN"}},
		{"listen not host:port", []string{"MITOSIS_LISTEN=8080"}, []string{"MITOSIS_LISTEN", "8080", "host:port"}},
		{"static without peers", []string{"MITOSIS_DISCOVERY=static"}, []string{"MITOSIS_DISCOVERY=static", "MITOSIS_PEERS"}},
		{"zero body timeout", []string{"MITOSIS_BODY_TIMEOUT=0s"}, []string{"MITOSIS_BODY_TIMEOUT=0s", "(0s; 24h]"}},
		{"zero write timeout", []string{"MITOSIS_WRITE_TIMEOUT=0s"}, []string{"MITOSIS_WRITE_TIMEOUT=0s"}},
		{"no connections", []string{"MITOSIS_MAX_CONNS=0"}, []string{"MITOSIS_MAX_CONNS=0", "[1; 10000000]"}},
		{"negative body buffer", []string{"MITOSIS_BODY_BUFFER=-1"}, []string{"MITOSIS_BODY_BUFFER=-1"}},
		{"token file missing", []string{"MITOSIS_CLUSTER_TOKEN_FILE=/nonexistent/token"}, []string{"MITOSIS_CLUSTER_TOKEN_FILE", "/nonexistent/token"}},
		{"token and token file", []string{"MITOSIS_CLUSTER_TOKEN=a", "MITOSIS_CLUSTER_TOKEN_FILE=/x"}, []string{"MITOSIS_CLUSTER_TOKEN_FILE", "not both"}},
		{"guard not host:port", []string{"MITOSIS_GUARD=guard"}, []string{`MITOSIS_GUARD="guard"`, "auto, off or host:port"}},
		{"guard port", []string{"MITOSIS_GUARD=guard:99999"}, []string{`MITOSIS_GUARD="guard:99999"`}},
		{"guard token file empty", []string{"MITOSIS_GUARD_TOKEN_FILE="}, []string{"MITOSIS_GUARD_TOKEN_FILE"}},
		{"enum role", []string{"MITOSIS_ROLE=gateway"}, []string{"MITOSIS_ROLE", "gateway", "entry"}},
		{"entry without a tier", []string{"MITOSIS_ROLE=entry"}, []string{"MITOSIS_ROLE=entry", "MITOSIS_SERVICE", "MITOSIS_PEERS"}},
		{"entry with an app", []string{"MITOSIS_ROLE=entry", "MITOSIS_SERVICE=app_web", "MITOSIS_UPSTREAM=http://127.0.0.1:3000"},
			[]string{"MITOSIS_UPSTREAM", "MITOSIS_ROLE=entry"}},
		{"entry with a driver", []string{"MITOSIS_ROLE=entry", "MITOSIS_SERVICE=app_web", "MITOSIS_DRIVER=swarm"},
			[]string{"MITOSIS_DRIVER=swarm", "MITOSIS_ROLE=entry"}},
		{"valid entry", []string{"MITOSIS_ROLE=entry", "MITOSIS_SERVICE=app_web"}, nil},
		{"hops from a URL", []string{"MITOSIS_HOPS_FROM=http://tasks.app_entry:8080"}, []string{"MITOSIS_HOPS_FROM", "tasks.app_entry:8080", "DNS name"}},
		{"valid hops from", []string{"MITOSIS_HOPS_FROM=tasks.app_entry"}, nil},
		{"valid control", []string{"MITOSIS_DRIVER=off"}, nil},
		{"both on free ports", []string{"MITOSIS_LISTEN=127.0.0.1:0", "MITOSIS_ADMIN_LISTEN=127.0.0.1:0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _, err := Load(tt.env, nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load(%q) = %v, want no error", tt.env, err)
				}
				return
			}
			lines := errLines(err)
			if len(lines) != 1 {
				t.Fatalf("Load(%q) gave %d lines, want 1:\n%s", tt.env, len(lines), strings.Join(lines, "\n"))
			}
			for _, w := range tt.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error line %q does not contain %q", lines[0], w)
				}
			}
		})
	}
}

func TestLoadConfigReportsEveryProblemAtOnce(t *testing.T) {
	env := []string{
		"MITOSIS_MAX_INFLIGHT=abc",
		"MITOSIS_QUEUE_TIMEOUT=-1s",
		"MITOSIS_DRIVER=nomad",
		"MITOSIS_MIN_REPLICAS=4",
		"MITOSIS_MAX_REPLICAS=2",
		"MITOSIS_UPSTREAM=https://x",
	}
	_, _, _, err := Load(env, []string{"-queue-max", "many"})
	lines := errLines(err)
	for _, v := range []string{"MITOSIS_MAX_INFLIGHT", "MITOSIS_QUEUE_TIMEOUT", "MITOSIS_DRIVER", "MITOSIS_MAX_REPLICAS", "MITOSIS_UPSTREAM", "-queue-max"} {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, v) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no error line names %s:\n%s", v, strings.Join(lines, "\n"))
		}
	}
	if len(lines) != 6 {
		t.Errorf("got %d lines, want 6 (one per problem):\n%s", len(lines), strings.Join(lines, "\n"))
	}
}

func TestLoadConfigFlags(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		args     []string
		inflight int
		rest     []string
	}{
		{"env only", []string{"MITOSIS_MAX_INFLIGHT=10"}, nil, 10, nil},
		{"flag wins over env", []string{"MITOSIS_MAX_INFLIGHT=10"}, []string{"-max-inflight", "3"}, 3, nil},
		{"flag with =", nil, []string{"--max-inflight=7"}, 7, nil},
		{"app command after --", []string{"MITOSIS_MAX_INFLIGHT=10"}, []string{"-max-inflight", "3", "--", "app", "-port", "1"}, 3, []string{"app", "-port", "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rest, _, err := Load(tt.env, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if c.Balancer.MaxInflight != tt.inflight {
				t.Errorf("MaxInflight = %d, want %d", c.Balancer.MaxInflight, tt.inflight)
			}
			if strings.Join(rest, " ") != strings.Join(tt.rest, " ") {
				t.Errorf("rest = %q, want %q", rest, tt.rest)
			}
		})
	}
	t.Run("unknown flag", func(t *testing.T) {
		_, _, _, err := Load(nil, []string{"-max-inflite", "3"})
		if err == nil || !strings.Contains(err.Error(), "max-inflite") {
			t.Fatalf("err = %v, want one naming -max-inflite", err)
		}
	})
}

func TestLoadConfigUnknownVariable(t *testing.T) {
	tests := []struct {
		env  string
		want string
	}{
		{"MITOSIS_MAX_INFLIGT=3", "did you mean MITOSIS_MAX_INFLIGHT?"},
		{"MITOSIS_QUEUE_MAXX=3", "did you mean MITOSIS_QUEUE_MAX?"},
		{"MITOSIS_SOMETHING_ELSE_ENTIRELY=1", "mitosis config"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, _, warnings, err := Load([]string{tt.env, "OTHER_VAR=1"}, nil)
			if err != nil {
				t.Fatalf("an unknown variable is a warning, not an error: %v", err)
			}
			name, _, _ := strings.Cut(tt.env, "=")
			if len(warnings) != 1 || !strings.Contains(warnings[0], name) || !strings.Contains(warnings[0], tt.want) {
				t.Fatalf("warnings = %q, want one naming %s with %q", warnings, name, tt.want)
			}
		})
	}
}

// TestShortSyncIntervalAlone: an operator who only shortens
// MITOSIS_SYNC_INTERVAL should not be told to fix MITOSIS_HEALTH_TIMEOUT,
// a setting they never touched: its default should follow the interval.
// TestClusterTokenFile: the token is read from the file (a Docker
// secret), without its surrounding white space; an empty file is refused.
func TestClusterTokenFile(t *testing.T) {
	dir := t.TempDir()
	good, empty := dir+"/token", dir+"/empty"
	if err := os.WriteFile(good, []byte("  s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, _, err := Load([]string{"MITOSIS_CLUSTER_TOKEN_FILE=" + good}, nil)
	if err != nil || c.Balancer.ClusterToken != "s3cret" {
		t.Errorf("token %q, err %v; want s3cret", c.Balancer.ClusterToken, err)
	}
	var out strings.Builder
	c.Print(&out)
	if strings.Contains(out.String(), "s3cret") {
		t.Error("mitosis config prints the token read from the file")
	}
	if _, _, _, err := Load([]string{"MITOSIS_CLUSTER_TOKEN_FILE=" + empty}, nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("an empty token file: %v, want an error", err)
	}
}

func TestShortSyncIntervalAlone(t *testing.T) {
	c, _, _, err := Load([]string{"MITOSIS_SYNC_INTERVAL=200ms"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Health.Timeout > c.Health.Interval {
		t.Fatalf("health timeout %s > interval %s", c.Health.Timeout, c.Health.Interval)
	}
	// An explicit, too long timeout is still an error naming it.
	_, _, _, err = Load([]string{"MITOSIS_SYNC_INTERVAL=200ms", "MITOSIS_HEALTH_TIMEOUT=1s"}, nil)
	if err == nil || !strings.Contains(err.Error(), "MITOSIS_HEALTH_TIMEOUT") {
		t.Fatalf("explicit timeout above the interval: err = %v, want one naming MITOSIS_HEALTH_TIMEOUT", err)
	}
}

// TestREADMEListsEverySetting keeps the README's configuration table in
// step with the settings table: a newcomer must find every variable.
func TestREADMEListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if !strings.Contains(string(b), "| `"+s.env+"` |") {
			t.Errorf("README.md has no table row for %s", s.env)
		}
	}
}

// TestParseWordsAndCommand: bare words may stand anywhere among the flags
// before "--"; everything after the first "--" is the command, flags
// included; boolean settings work bare.
func TestParseWordsAndCommand(t *testing.T) {
	c, a, _, err := Parse(nil, []string{"config", "-max-inflight", "7", "-dry-run", "extra", "--", "app", "-dry-run", "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Balancer.MaxInflight != 7 || !c.Autoscale.DryRun {
		t.Errorf("max in flight %d, dry run %v; want 7 and true", c.Balancer.MaxInflight, c.Autoscale.DryRun)
	}
	if strings.Join(a.Words, " ") != "config extra" || strings.Join(a.Command, " ") != "app -dry-run x" {
		t.Errorf("words %q command %q", a.Words, a.Command)
	}
	if _, _, _, err := Load(nil, []string{"-max-inflight", "7", "stray"}); err == nil || !strings.Contains(err.Error(), `unexpected argument "stray"`) {
		t.Errorf("Load with a bare word: %v", err)
	}
}

// TestFunctionsSettings: MITOSIS_FUNCTIONS and the MITOSIS_FUNCTION_*
// limits load, survive the trip through Environ (what a child replica of
// the process driver gets), and a bad entry is one line naming it.
func TestFunctionsSettings(t *testing.T) {
	env := []string{"MITOSIS_FUNCTIONS=/record=voting:1 record, /job;async=exec:./job -v", "MITOSIS_FUNCTION_CONCURRENCY=2",
		"MITOSIS_FUNCTION_NETWORK=app_votes", "MITOSIS_FUNCTION_TIMEOUT=10s"}
	c, _, _, err := Load(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Functions.Functions) != 2 || c.Functions.Functions[1].Command != "./job" || !c.Functions.Functions[1].Async ||
		c.Functions.Concurrency != 2 || c.Functions.Network != "app_votes" || c.Functions.Timeout != 10*time.Second {
		t.Fatalf("functions config %+v", c.Functions)
	}
	again, _, _, err := Load(c.Environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again.Functions.Functions, c.Functions.Functions; len(got) != len(want) || got[0].String() != want[0].String() || got[1].String() != want[1].String() {
		t.Fatalf("after Environ: %+v, want %+v", got, want)
	}
	for _, bad := range []struct{ env, want string }{
		{"MITOSIS_FUNCTIONS=/x=--privileged", `entry "/x=--privileged"`},
		{"MITOSIS_FUNCTION_NETWORK=host", "MITOSIS_FUNCTION_NETWORK=host"},
		{"MITOSIS_FUNCTION_CONCURRENCY=0", "MITOSIS_FUNCTION_CONCURRENCY=0"},
	} {
		_, _, _, err := Load([]string{bad.env}, nil)
		if lines := errLines(err); len(lines) != 1 || !strings.Contains(lines[0], bad.want) {
			t.Errorf("%s: %q, want one line naming %s", bad.env, lines, bad.want)
		}
	}
}
