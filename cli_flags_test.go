package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/config"
)

// runCLI runs the command line in-process with env as its environment.
func runCLI(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, env, &out, &errb)
	return code, out.String(), errb.String()
}

// TestHelpListsEveryFlag: --help (and -h, help) names every flag with the
// variable it mirrors and its default.
func TestHelpListsEveryFlag(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"-max-inflight", "3", "help"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 {
			t.Fatalf("%q exited %d", args, code)
		}
		for _, v := range config.Vars() {
			flag := "-" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(v, "MITOSIS_")), "_", "-")
			if !strings.Contains(out, "\n  "+flag+" ") && !strings.Contains(out, "\n  "+flag+"[") {
				t.Errorf("%q does not list %s", args, flag)
			}
			if !strings.Contains(out, v+", default ") {
				t.Errorf("%q does not give %s with its default", args, v)
			}
		}
		for _, want := range []string{"MITOSIS_MAX_INFLIGHT, default 100", "MITOSIS_DRAIN_TIMEOUT, default 8s", "-dry-run[=false]", "-- CMD ARGS"} {
			if !strings.Contains(out, want) {
				t.Errorf("%q lacks %q", args, want)
			}
		}
	}
	// Help even with a broken environment.
	if code, out, _ := runCLI(t, []string{"MITOSIS_QUEUE_MAX=abc"}, "--help"); code != 0 || !strings.Contains(out, "usage:") {
		t.Errorf("--help with a bad variable = %d", code)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}, {"-max-inflight", "3", "version"}} {
		code, out, _ := runCLI(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "mitosis ") || !strings.Contains(out, "go1.") {
			t.Errorf("%q = %d %q, want the build line", args, code, out)
		}
	}
}

// TestSubcommandAnywhere: a subcommand may come before or after the flags.
func TestSubcommandAnywhere(t *testing.T) {
	for _, args := range [][]string{
		{"config", "-max-inflight", "7"},
		{"-max-inflight", "7", "config"},
		{"-max-inflight=7", "config", "-queue-max", "9"},
	} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(out, "MITOSIS_MAX_INFLIGHT=7\t") {
			t.Errorf("%q = %d, stdout %q, stderr %q; want the config with 7 in flight", args, code, out, errOut)
		}
	}
}

// TestUnknownWord: a bare word that is no subcommand is an error with a
// "did you mean", never a program to run (that needs --).
func TestUnknownWord(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"confg"}, `unknown command "confg" (did you mean "config"?)`},
		{[]string{"-max-inflight", "7", "config", "extra"}, `unknown command "extra"`},
		{[]string{"healtcheck"}, `did you mean "healthcheck"?`},
		{[]string{"node", "server.js"}, "mitosis -- node"},
		{[]string{"-dry-run", "false"}, "-dry-run=false"},
		{[]string{"config", "version"}, "one command at a time"},
	} {
		code, out, errOut := runCLI(t, nil, tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q = %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	code, _, errOut := runCLI(t, nil, "-max-inflite", "3")
	if code != 2 || !strings.Contains(errOut, "did you mean -max-inflight?") {
		t.Errorf("unknown flag = %d %q", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "-ready")
	if code != 2 || !strings.Contains(errOut, "healthcheck") {
		t.Errorf("-ready without healthcheck = %d %q", code, errOut)
	}
}

// TestBoolFlagsBare: boolean flags work without a value, and with =false.
func TestBoolFlagsBare(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"-dry-run", "config"}, "MITOSIS_DRY_RUN=true\t"},
		{nil, []string{"config", "--access-log"}, "MITOSIS_ACCESS_LOG=true\t"},
		{[]string{"MITOSIS_DRY_RUN=true"}, []string{"-dry-run=false", "config"}, "MITOSIS_DRY_RUN=false\t"},
		{nil, []string{"-replica-header=false", "config"}, "MITOSIS_REPLICA_HEADER=false\t"},
	} {
		if code, out, errOut := runCLI(t, tc.env, tc.args...); code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%q = %d %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
	if code, _, errOut := runCLI(t, nil, "-dry-run=maybe", "config"); code != 2 || !strings.Contains(errOut, `-dry-run="maybe": must be true or false`) {
		t.Errorf("-dry-run=maybe = %d %q", code, errOut)
	}
}

// TestInconsistentSettings: settings that work against each other are
// reported at start-up: a target concurrency at or above the in-flight
// limit as a warning, fewer max than min replicas as an error.
func TestInconsistentSettings(t *testing.T) {
	code, _, errOut := runCLI(t, []string{"MITOSIS_TARGET_CONCURRENCY=200", "MITOSIS_MAX_INFLIGHT=100"}, "config")
	if code != 0 || !strings.Contains(errOut, "warning: MITOSIS_TARGET_CONCURRENCY=200 is not below MITOSIS_MAX_INFLIGHT=100") {
		t.Errorf("target 200 over 100 in flight = %d %q, want a warning naming both", code, errOut)
	}
	if _, _, errOut := runCLI(t, nil, "config"); strings.Contains(errOut, "warning") {
		t.Errorf("the defaults warn: %q", errOut)
	}
	code, _, errOut = runCLI(t, []string{"MITOSIS_MIN_REPLICAS=5", "MITOSIS_MAX_REPLICAS=3"}, "config")
	if code != 2 || !strings.Contains(errOut, "MITOSIS_MAX_REPLICAS=3: must be >= MITOSIS_MIN_REPLICAS (5)") {
		t.Errorf("min 5 > max 3 = %d %q, want 2 naming both", code, errOut)
	}
}

// serveEnv starts a replica in-process on ports of its own, without a
// driver, for the tests that run an app.
var serveEnv = []string{"MITOSIS_LISTEN=127.0.0.1:0", "MITOSIS_ADMIN_LISTEN=127.0.0.1:0", "MITOSIS_DRIVER=off", "MITOSIS_REPLICA_ID=cli"}

// TestAppStatusAtStartUp: an app that dies before it listens makes
// mitosis exit with the app's status, as when it dies later (0 included,
// 128+N after signal N).
func TestAppStatusAtStartUp(t *testing.T) {
	for _, tc := range []struct {
		script string
		want   int
	}{
		{"exit 3", 3},
		{"exit 0", 0},
		{"kill -TERM $$", 128 + 15},
	} {
		code, _, errOut := runCLI(t, serveEnv, "--", "sh", "-c", tc.script)
		if code != tc.want || !strings.Contains(errOut, "exited before listening") {
			t.Errorf("mitosis -- sh -c %q = %d, want %d; stderr:\n%s", tc.script, code, tc.want, errOut)
		}
	}
	code, _, errOut := runCLI(t, serveEnv, "--", "/nonexistent/app")
	if code != 1 || !strings.Contains(errOut, "/nonexistent/app") {
		t.Errorf("a missing program = %d %q, want 1 naming it", code, errOut)
	}
}

// TestAppStartTimeout: the wait for the app to listen is
// MITOSIS_APP_START_TIMEOUT.
func TestAppStartTimeout(t *testing.T) {
	start := time.Now()
	env := append(append([]string{}, serveEnv...), "MITOSIS_APP_START_TIMEOUT=300ms")
	code, _, errOut := runCLI(t, env, "--", "sleep", "30")
	if code != 1 || !strings.Contains(errOut, "did not listen on PORT=") || !strings.Contains(errOut, "within 300ms") {
		t.Errorf("= %d, stderr:\n%s\nwant 1 and the timeout named", code, errOut)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %s: the 300ms timeout was not applied", time.Since(start))
	}
	if code, _, errOut := runCLI(t, []string{"MITOSIS_APP_START_TIMEOUT=0s"}, "config"); code != 2 || !strings.Contains(errOut, "MITOSIS_APP_START_TIMEOUT=0s") {
		t.Errorf("a zero timeout = %d %q, want 2", code, errOut)
	}
}
