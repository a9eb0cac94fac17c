package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/wait"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// processesOf lists the pids running the program at path (from /proc).
func processesOf(path string) []string {
	var out []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe")); err == nil && exe == path {
			out = append(out, d.Name())
		}
	}
	return out
}

// TestLocalRun is the one-command local run (`go run ./examples/voting`,
// here the built binary): the web tier on the process driver with the
// store in its first process and a local process per vote. 150 voters
// vote twice at once, the second vote changing the first, while the tier
// scales; every vote is recorded and /result/votes gives exactly the
// expected tally within 30 s; after SIGTERM no replica or function
// process is left.
func TestLocalRun(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc to find leftover processes")
	}
	if testing.Short() {
		t.Skip("builds and runs the app (about 15 s)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "voting")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	addr, admin := freePort(t), freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"MITOSIS_LISTEN="+addr, "MITOSIS_ADMIN_LISTEN="+admin, "VOTING_DATA="+filepath.Join(dir, "votes.db"),
		"MITOSIS_DRIVER=process", "MITOSIS_TICK=1s", "MITOSIS_STABLE_WINDOW=10s", "MITOSIS_PANIC_WINDOW=2s",
		"MITOSIS_TARGET_CONCURRENCY=4", "MITOSIS_MAX_REPLICAS=4", "MITOSIS_SCALE_DOWN_DELAY=10s",
		"MITOSIS_DRAIN_DELAY=500ms", "MITOSIS_DRAIN_TIMEOUT=10s",
		// A local run costs a few ms; a container takes a few hundred.
		"VOTING_RECORD_WORK=250ms")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("the app's log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	var err error
	if !wait.Until(20*time.Second, 100*time.Millisecond, func() bool {
		var resp *http.Response
		if resp, err = http.Get(base + "/"); err == nil {
			resp.Body.Close()
		}
		return err == nil
	}) {
		t.Fatalf("the app does not answer: %v", err)
	}

	var out bytes.Buffer
	code := voters([]string{"-url", base, "-voters", "150", "-wait", "30s"}, &out, io.Discard)
	var res votersResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("voters printed %q: %v", out.String(), err)
	}
	t.Logf("voters: %s", strings.TrimSpace(out.String()))
	if code != 0 || res.Recorded != 300 || res.Got != (Counts{A: 100, B: 50}) || !res.Matched {
		t.Errorf("voters: status %d, %d of 300 votes recorded, tally %+v; want every vote and a=100 b=50", code, res.Recorded, res.Got)
	}
	if len(res.Replicas) < 2 {
		t.Errorf("the votes were served by %v: the tier did not scale", res.Replicas)
	}
	resp, err := http.Get(base + "/result/tier")
	if err == nil {
		t.Logf("tier: %s", strings.TrimSpace(readBody(resp)))
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30 s of SIGTERM")
	}
	var left []string
	if !wait.Until(10*time.Second, 100*time.Millisecond, func() bool { left = processesOf(bin); return len(left) == 0 }) {
		t.Fatalf("processes left after the drain: %v", left)
	}
}
