package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serviceBlock returns the lines of one service in `docker stack config`
// output (services sorted, two-space indent).
func serviceBlock(merged, name string) string {
	var out []string
	in := false
	for _, line := range strings.Split(merged, "\n") {
		switch {
		case line == "  "+name+":":
			in = true
			continue
		case in && strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "    "):
			in = false
		case in && !strings.HasPrefix(line, " ") && line != "":
			in = false
		}
		if in {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestStackFilesAgree: stack.noipvs.yml's web service is stack.yml's but
// for the published port, DNS round robin and the entries' hop trust, and every other service of
// stack.yml is there as it is. It reads the files through `docker stack
// config` (client side: no daemon needed).
func TestStackFilesAgree(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("stack files: no docker CLI to read them")
	}
	cfg := func(file string) string {
		t.Helper()
		out, err := run(context.Background(), time.Minute, []string{"DOCKER_HOST=unix:///nonexistent"}, "docker", "stack", "config", "-c", filepath.Join("..", file))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	mesh, noipvs := cfg("stack.yml"), cfg("stack.noipvs.yml")
	if serviceBlock(noipvs, "entry") == "" {
		t.Fatal("stack.noipvs.yml has no entry service")
	}
	for _, line := range strings.Split(mesh, "\n") {
		name, ok := strings.CutSuffix(line, ":")
		if !ok || !strings.HasPrefix(name, "  ") || strings.HasPrefix(name, "   ") {
			continue
		}
		name = strings.TrimSpace(name)
		want := serviceBlock(mesh, name)
		got := serviceBlock(noipvs, name)
		if name == "web" {
			want = dropBlock(want, "ports:")
			got = strings.Replace(got, "      endpoint_mode: dnsrr\n", "", 1)
			got = dropLine(got, "      MITOSIS_HOPS_FROM: ")
		}
		if got != want {
			t.Errorf("service %s differs between stack.yml and stack.noipvs.yml:\n--- stack.yml\n%s\n--- stack.noipvs.yml\n%s", name, want, got)
		}
	}
}

// dropLine removes the lines that start with prefix.
func dropLine(block, prefix string) string {
	var out []string
	for _, line := range strings.Split(block, "\n") {
		if !strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
