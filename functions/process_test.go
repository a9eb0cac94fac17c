package functions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the function program: with
// GO_FUNCTIONS_HELPER=1 it runs the mode named by its first argument.
func TestMain(m *testing.M) {
	if os.Getenv("GO_FUNCTIONS_HELPER") == "1" {
		os.Exit(helper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helper(args []string) int {
	switch args[0] {
	case "cgi":
		in, _ := io.ReadAll(os.Stdin)
		fmt.Printf("Status: 201 Created\nContent-Type: text/plain\n\nmethod=%s path=%s args=%v stdin=%s",
			os.Getenv("REQUEST_METHOD"), os.Getenv("PATH_INFO"), args[1:], in)
	case "env":
		fmt.Print(strings.Join(os.Environ(), "\n"))
	case "fail":
		fmt.Fprint(os.Stderr, strings.Repeat("boom", 1000))
		return 3
	case "hang":
		// A grandchild in the same group, then wait forever.
		c := exec.Command(os.Args[0], "sleep")
		c.Env = os.Environ()
		if err := c.Start(); err != nil {
			return 1
		}
		fmt.Println(c.Process.Pid)
		os.Stdout.Sync()
		select {}
	case "sleep":
		select {}
	case "flood":
		b := bytes.Repeat([]byte("x"), 4096)
		for {
			if _, err := os.Stdout.Write(b); err != nil {
				return 1
			}
		}
	}
	return 0
}

func helperRunner() *ProcessRunner {
	return &ProcessRunner{Env: []string{"GO_FUNCTIONS_HELPER=1"}, MaxOutput: 1 << 16, MaxStderr: 100}
}

func TestProcessRunner(t *testing.T) {
	t.Setenv("MITOSIS_CLUSTER_TOKEN", "parent-secret")
	r := helperRunner()
	self := os.Args[0]
	ctx := context.Background()

	out, err := r.Run(ctx, Job{Command: self, Args: []string{"cgi", "a b"}, Env: []string{"REQUEST_METHOD=POST", "PATH_INFO=/x"},
		Stdin: []byte("vote=a"), Timeout: time.Minute})
	if err != nil || out.ExitCode != 0 {
		t.Fatalf("cgi: %+v, %v", out, err)
	}
	status, _, body, err := parseOutput(out.Stdout)
	if err != nil || status != 201 || string(body) != "method=POST path=/x args=[a b] stdin=vote=a" {
		t.Fatalf("cgi output %q: %d %q %v", out.Stdout, status, body, err)
	}

	// Only the job's environment and the runner's reach the program.
	out, err = r.Run(ctx, Job{Command: self, Args: []string{"env"}, Env: []string{"HTTP_X=1"}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Split(string(out.Stdout), "\n")
	if len(env) != 2 || !strings.Contains(string(out.Stdout), "HTTP_X=1") {
		t.Fatalf("environment %q, want GO_FUNCTIONS_HELPER and HTTP_X only", env)
	}

	// A non-zero exit is a result; stderr is capped.
	out, err = r.Run(ctx, Job{Command: self, Args: []string{"fail"}, Timeout: time.Minute})
	if err != nil || out.ExitCode != 3 || len(out.Stderr) != 100 {
		t.Fatalf("fail: exit %d, %d bytes of stderr, %v; want 3, 100", out.ExitCode, len(out.Stderr), err)
	}

	// Over the output cap: killed.
	start := time.Now()
	_, err = r.Run(ctx, Job{Command: self, Args: []string{"flood"}, Timeout: time.Minute})
	if !errors.Is(err, ErrOutputTooLarge) || time.Since(start) > 30*time.Second {
		t.Fatalf("flood: %v after %s, want ErrOutputTooLarge at once", err, time.Since(start))
	}

	if _, err := r.Run(ctx, Job{Command: "./no-such-program"}); err == nil {
		t.Error("a missing program: no error")
	}
}

// TestProcessRunnerTimeoutKillsGroup: at the timeout the program and
// what it started are killed.
func TestProcessRunnerTimeoutKillsGroup(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	r := helperRunner()
	out, err := r.Run(context.Background(), Job{Command: os.Args[0], Args: []string{"hang"}, Timeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("hang: %v, want ErrTimeout", err)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(string(out.Stdout)))
	if perr != nil {
		t.Fatalf("no grandchild pid in %q", out.Stdout)
	}
	waitFor(t, "the grandchild gone", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// Gone, or a zombie waiting for its new parent to reap it.
		return err != nil || strings.Contains(string(b), ") Z ")
	})
	// The caller's own context ends a run too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Run(ctx, Job{Command: os.Args[0], Args: []string{"sleep"}, Timeout: time.Minute}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
