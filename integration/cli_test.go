package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestJSONLogsDurationsAsStrings: with MITOSIS_LOG_FORMAT=json, durations
// read as in the configuration ("2s"), not as nanoseconds.
func TestJSONLogsDurationsAsStrings(t *testing.T) {
	integration(t)
	p := startReady(t, "jsonlog", []string{"MITOSIS_LOG_FORMAT=json", "MITOSIS_DRAIN_DELAY=300ms", "MITOSIS_DRAIN_TIMEOUT=2s"})
	p.signal(syscall.SIGTERM)
	p.waitExit(5 * time.Second)
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(p.log()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if m["msg"] == "signal received: draining" {
			found = true
			if m["delay"] != "300ms" || m["timeout"] != "2s" {
				t.Errorf("drain line %s: want delay \"300ms\" and timeout \"2s\"", line)
			}
		}
	}
	if !found {
		t.Errorf("no drain line in:\n%s", p.log())
	}
}

// TestVersionFromLinker: a release build sets the version with
// -ldflags -X; --version and mitosis version print it.
func TestVersionFromLinker(t *testing.T) {
	integration(t)
	bin := filepath.Join(t.TempDir(), "mitosis")
	cmd := exec.Command(goTool(), "build", "-o", bin,
		"-ldflags", "-X github.com/mitosis-run/mitosis/internal/buildinfo.version=v9.8.7-test", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, arg := range []string{"--version", "version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil || !strings.HasPrefix(string(out), "mitosis v9.8.7-test (revision ") {
			t.Errorf("mitosis %s = %q %v", arg, out, err)
		}
	}
	_ = os.Remove(bin)
}
