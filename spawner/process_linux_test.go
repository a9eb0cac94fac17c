package spawner

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestProcessNoOrphanOnParentSIGKILL kills a parent (this binary in
// intermediate mode) with SIGKILL and expects its child, which does not
// watch its parent, to be gone: only the parent-death signal can do that.
func TestProcessNoOrphanOnParentSIGKILL(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MITOSIS_TEST_INTERMEDIATE=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The intermediate lives until its stdin closes: when this test kills
	// it, or when the test process is gone.
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	var pid int
	select {
	case s := <-line:
		if _, err := fmt.Sscanf(strings.TrimSpace(s), "pid %d", &pid); err != nil {
			t.Fatalf("intermediate said %q: %v", s, err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("intermediate did not report a ready child")
	}
	if !pidAlive(pid) {
		t.Fatalf("child %d not running before the parent is killed", pid)
	}
	// Kill the child too should the test fail, so it leaves no orphan.
	t.Cleanup(func() {
		if t.Failed() && pidAlive(pid) {
			_ = procKillPID(pid)
		}
	})

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !pollUntil(5*time.Second, func() bool { return !pidAlive(pid) }) {
		t.Fatalf("child %d outlived its parent killed with SIGKILL", pid)
	}
}

func procKillPID(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
