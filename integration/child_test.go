package integration

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var echoLine = regexp.MustCompile(`^path=(\S*) xff=(\S*) pid=(\d+)\n$`)

// startEcho runs `mitosis -- echoapp` and returns the process and the pid
// of the app it started.
func startEcho(t *testing.T, name string) (*proc, int) {
	t.Helper()
	p := startReady(t, name, []string{"MITOSIS_DRAIN_DELAY=500ms", "MITOSIS_DRAIN_TIMEOUT=3s"}, "--", echoappBin)
	r := doGet(loadClient(t), p.pubURL("/hello/world"), map[string]string{"X-Forwarded-For": "6.6.6.6"}, 5*time.Second)
	if r.err != nil || r.code != 200 {
		t.Fatalf("GET /hello/world = %d %q %v", r.code, r.body, r.err)
	}
	m := echoLine.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("body %q is not the echo app's", r.body)
	}
	if m[1] != "/hello/world" {
		t.Errorf("the app saw path %q, want /hello/world", m[1])
	}
	// mitosis replaces what the client claimed with what it saw.
	if m[2] != "127.0.0.1" {
		t.Errorf("the app saw X-Forwarded-For %q, want 127.0.0.1 (set by mitosis, the client's 6.6.6.6 dropped)", m[2])
	}
	if r.replica != name {
		t.Errorf("X-Mitosis-Replica = %q, want %q", r.replica, name)
	}
	pid, _ := strconv.Atoi(m[3])
	if !alive(pid) {
		t.Fatalf("app pid %d is not running", pid)
	}
	if kids := childrenOf(p.cmd.Process.Pid); len(kids) != 1 || kids[0] != pid {
		t.Errorf("children of mitosis = %v, want just the app %d", kids, pid)
	}
	return p, pid
}

func TestChildAppProxied(t *testing.T) {
	integration(t)
	p, _ := startEcho(t, "child")
	if code, body, err := get(p.adminURL("/readyz"), nil); err != nil || code != 200 {
		t.Fatalf("/readyz = %d %q %v, want 200", code, body, err)
	}
	s, err := p.state(nil)
	if err != nil || !s.Ready {
		t.Fatalf("state ready = %v (%v), want true", s.Ready, err)
	}
}

// TestChildAppDies: when the app exits, mitosis exits with the app's status
// and says why.
func TestChildAppDies(t *testing.T) {
	integration(t)
	p, pid := startEcho(t, "dies")
	r := doGet(loadClient(t), p.pubURL("/die"), nil, 5*time.Second)
	if r.err != nil || r.code != 200 || r.body != "dying\n" {
		t.Fatalf("GET /die = %d %q %v", r.code, r.body, r.err)
	}
	if status := p.waitExit(5 * time.Second); status != 7 {
		t.Errorf("mitosis exited %d after the app exited 7, want 7", status)
	}
	log := p.log()
	if !strings.Contains(log, "the app exited") || !strings.Contains(log, "exit status 7") {
		t.Errorf("log lacks a line saying the app exited with status 7:\n%s", log)
	}
	if alive(pid) {
		t.Errorf("app pid %d still running", pid)
	}
}

// TestChildAppSIGTERM: SIGTERM drains mitosis, then stops the app; no
// process is left.
func TestChildAppSIGTERM(t *testing.T) {
	integration(t)
	p, pid := startEcho(t, "term")
	p.signal(syscall.SIGTERM)
	waitFor(t, time.Second, "/readyz to turn 503", func() bool {
		code, _, err := get(p.adminURL("/readyz"), nil)
		return err == nil && code == 503
	})
	// The app still answers through mitosis during the drain delay.
	if r := doGet(loadClient(t), p.pubURL("/during"), nil, 2*time.Second); r.err != nil || r.code != 200 {
		t.Errorf("GET during the drain delay = %d %q %v, want 200", r.code, r.body, r.err)
	}
	if status := p.waitExit(3*time.Second + 2*time.Second); status != 0 {
		t.Errorf("mitosis exited %d after SIGTERM, want 0", status)
	}
	if alive(pid) {
		t.Errorf("app pid %d still running after mitosis exited", pid)
	}
}

// TestChildAppOrphanedOnKill: mitosis killed with SIGKILL cannot stop its
// app; the kernel does (Pdeathsig), so no orphan keeps the port.
func TestChildAppOrphanedOnKill(t *testing.T) {
	integration(t)
	p, pid := startEcho(t, "kill")
	p.signal(syscall.SIGKILL)
	p.waitExit(3 * time.Second)
	waitFor(t, 3*time.Second, "the app to exit after mitosis was killed", func() bool { return !alive(pid) })
}
