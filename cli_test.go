package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mitosis-run/mitosis/internal/config"
)

func TestRunConfigPrintsEverySetting(t *testing.T) {
	var out, errb bytes.Buffer
	env := []string{"MITOSIS_CLUSTER_TOKEN=hunter2-secret", "MITOSIS_MAX_INFLIGHT=42", "MITOSIS_MAX_INFLIGT=1"}
	if code := run([]string{"config", "-queue-max", "9"}, env, &out, &errb); code != 0 {
		t.Fatalf("run config = %d, stderr:\n%s", code, errb.String())
	}
	s := out.String()
	if strings.Contains(s, "hunter2-secret") {
		t.Fatalf("config output shows the cluster token:\n%s", s)
	}
	for _, want := range []string{
		"MITOSIS_CLUSTER_TOKEN=(set, hidden)",
		"MITOSIS_MAX_INFLIGHT=42\t",
		"MITOSIS_QUEUE_MAX=9\t",
		"MITOSIS_LISTEN=:8080\t",
		"MITOSIS_DRAIN_TIMEOUT=8s\t",
		"MITOSIS_DRIVER=auto\t",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("config output lacks %q", want)
		}
	}
	// Every variable the settings table knows, once, each on its own line.
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) != len(config.Vars()) {
		t.Errorf("%d lines, want %d (one per setting)", len(lines), len(config.Vars()))
	}
	for _, v := range config.Vars() {
		if strings.Count(s, "\n"+v+"=")+boolInt(strings.HasPrefix(s, v+"=")) != 1 {
			t.Errorf("%s is not printed exactly once", v)
		}
	}
	// The documented variables are all there (a setting dropped from the
	// table would go unnoticed by the loop above).
	for _, v := range []string{"MITOSIS_LISTEN", "MITOSIS_ADMIN_LISTEN", "MITOSIS_UPSTREAM", "MITOSIS_MAX_INFLIGHT",
		"MITOSIS_QUEUE_MAX", "MITOSIS_QUEUE_TIMEOUT", "MITOSIS_REPLICA_HEADER", "MITOSIS_CLUSTER_TOKEN",
		"MITOSIS_DRAIN_DELAY", "MITOSIS_DRAIN_TIMEOUT", "MITOSIS_DISCOVERY", "MITOSIS_PEERS", "MITOSIS_SYNC_INTERVAL",
		"MITOSIS_DRIVER", "MITOSIS_MIN_REPLICAS", "MITOSIS_MAX_REPLICAS", "MITOSIS_TARGET_CONCURRENCY", "MITOSIS_TICK"} {
		if !strings.Contains(s, v+"=") {
			t.Errorf("config output lacks %s", v)
		}
	}
	if !strings.Contains(errb.String(), "did you mean MITOSIS_MAX_INFLIGHT?") {
		t.Errorf("stderr lacks the unknown-variable warning: %q", errb.String())
	}
}

func TestRunConfigTokenUnsetIsEmpty(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"config"}, nil, &out, &errb); code != 0 {
		t.Fatalf("run config = %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "MITOSIS_CLUSTER_TOKEN=\t") {
		t.Errorf("an unset token should print empty, got:\n%s", out.String())
	}
}

func TestRunBadConfigExits2(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"serve", nil},
		{"config", []string{"config"}},
		{"healthcheck", []string{"healthcheck"}},
	}
	env := []string{"MITOSIS_QUEUE_MAX=abc", "MITOSIS_QUEUE_TIMEOUT=-1s"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, env, &out, &errb)
			if code != 2 {
				t.Fatalf("run = %d, want 2; stderr:\n%s", code, errb.String())
			}
			for _, v := range []string{`MITOSIS_QUEUE_MAX="abc"`, "MITOSIS_QUEUE_TIMEOUT=-1s"} {
				if !strings.Contains(errb.String(), v) {
					t.Errorf("stderr does not name %s:\n%s", v, errb.String())
				}
			}
			if out.Len() != 0 {
				t.Errorf("stdout should be empty on bad config, got %q", out.String())
			}
		})
	}
}

func TestRunUpstreamAndCommandConflict(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"--", "/bin/true"}, []string{"MITOSIS_UPSTREAM=http://127.0.0.1:1"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "not both") {
		t.Fatalf("run = %d, stderr %q; want 2 and a message saying not both", code, errb.String())
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRunGuardSubcommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"guard", "config"}, []string{"MITOSIS_GUARD_IMAGES=fn:1,fn:2"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "MITOSIS_GUARD_IMAGES=fn:1,fn:2") {
		t.Fatalf("guard config: %d %q %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run([]string{"guard"}, []string{"MITOSIS_GUARD_RUNS=lots"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `MITOSIS_GUARD_RUNS="lots"`) {
		t.Fatalf("guard with a bad setting: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"guard"}, []string{"MITOSIS_GUARD_TOKEN_FILE=/nonexistent/token"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "docker secret create") {
		t.Fatalf("guard without its secret: %d %q", code, errb.String())
	}
}
