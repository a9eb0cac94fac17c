package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Child is the app started as a child process (mitosis -- CMD ARGS).
type Child struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when the child exited
	err  error         // Wait's result, valid after done
}

// Addr is the loopback address (host:port) the child listens on.
func (c *Child) Addr() string { return c.addr }

// Done is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Err is the child's exit (exec.Cmd.Wait's result); valid once Done is
// closed.
func (c *Child) Err() error { return c.err }

// StartChild starts argv with PORT set to a free loopback port and waits
// until it accepts connections there (or exits, or timeout passes).
func StartChild(argv []string, timeout time.Duration, log *slog.Logger) (*Child, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = childSysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the app %q: %w", argv[0], err)
	}
	c := &Child{cmd: cmd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	log.Info("app started", "cmd", argv[0], "pid", cmd.Process.Pid, "addr", c.addr)
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", c.addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return c, nil
		}
		select {
		case <-c.done:
			return nil, &StartExitError{Argv0: argv[0], Port: port, Err: c.err}
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop(time.Second)
			return nil, fmt.Errorf("the app %q did not listen on PORT=%d within %s", argv[0], port, timeout)
		}
	}
}

// Stop sends SIGTERM and waits up to grace, then kills.
func (c *Child) Stop(grace time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// ExitCode is the status mitosis exits with when the child died: the
// app's own, as a shell reports it (128+N for signal N).
func (c *Child) ExitCode() int { return exitCode(c.err) }

// StartExitError is a start-up that failed because the app exited before
// it listened: mitosis exits with the app's status (ExitCode), as it does
// when the app dies later.
type StartExitError struct {
	Argv0 string
	Port  int
	Err   error // exec.Cmd.Wait's result
}

func (e *StartExitError) Error() string {
	return fmt.Sprintf("the app %q exited before listening on PORT=%d: %s", e.Argv0, e.Port, ExitText(e.Err))
}

// Unwrap is the app's exit.
func (e *StartExitError) Unwrap() error { return e.Err }

// ExitCode is the app's exit status.
func (e *StartExitError) ExitCode() int { return exitCode(e.Err) }

// exitCode is the status a shell reports for a process that ended with
// err (exec.Cmd.Wait's result): 0, its exit status, or 128+N after signal
// N; 1 when the process could not be waited for.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		if code := ee.ExitCode(); code >= 0 {
			return code
		}
	}
	return 1
}

// ExitText describes a child's exit for a log line.
func ExitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
