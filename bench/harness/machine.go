package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// machine is what the report says about where it ran.
type machine struct {
	nproc   int
	cpu     string
	kernel  string
	load    string // /proc/loadavg at the start: the machine is shared
	goVer   string
	nginx   string
	haproxy string
	caddy   string
	wrk     string
	commit  string
}

func machineInfo(ctx context.Context, o options) machine {
	m := machine{nproc: runtime.NumCPU()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	m.kernel = readTrim("/proc/sys/kernel/osrelease")
	if l := strings.Fields(readTrim("/proc/loadavg")); len(l) >= 3 {
		m.load = strings.Join(l[:3], " ")
	}
	m.goVer = firstLine(ctx, "", "go", "version")
	m.nginx = strings.TrimPrefix(firstLine(ctx, "", "nginx", "-v"), "nginx version: ")
	m.haproxy = firstLine(ctx, "", "haproxy", "-v")
	if i := strings.Index(m.haproxy, " - "); i > 0 {
		m.haproxy = m.haproxy[:i]
	}
	m.caddy = firstLine(ctx, "", "caddy", "version")
	m.wrk = firstLine(ctx, "", "wrk", "-v")
	if i := strings.Index(m.wrk, " Copyright"); i > 0 {
		m.wrk = m.wrk[:i]
	}
	m.commit = firstLine(ctx, o.repo, "git", "rev-parse", "--short", "HEAD")
	// The run's own outputs (from the run before) do not count as changes.
	if st := firstLine(ctx, o.repo, "git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!BENCHMARKS.md", ":!bench/reaction.svg"); st != "" && st != "?" {
		m.commit += " with uncommitted changes"
	}
	return m
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// firstLine runs a version command (some print to stderr) and returns its
// first line, or "?".
func firstLine(ctx context.Context, dir, name string, args ...string) string {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		return "?"
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(l)
}
