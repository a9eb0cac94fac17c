package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/mitosis-run/mitosis/balancer"
)

// newUpstreamProxy proxies to an app that listens at target. The balancer
// already set X-Forwarded-* (and stripped what clients sent), so they are
// passed on as they are.
func newUpstreamProxy(target *url.URL, maxConns int, log *slog.Logger) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v, ok := pr.In.Header[k]; ok {
					pr.Out.Header[k] = v
				}
			}
		},
		Transport: balancer.NewTransport(maxConns),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return
			}
			log.Warn("app did not answer", "err", err)
			http.Error(w, "bad gateway: the app did not answer", http.StatusBadGateway)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// dialCheck is the readiness check of an app behind a TCP address.
func dialCheck(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("app at %s does not accept connections: %w", addr, err)
		}
		return c.Close()
	}
}

// childApp is the app started as a child process (mitosis -- CMD ARGS).
type childApp struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed when the child exited
	err  error         // Wait's result, valid after done
}

// startChild starts argv with PORT set to a free loopback port and waits
// until it accepts connections there (or exits, or timeout passes).
func startChild(argv []string, timeout time.Duration, log *slog.Logger) (*childApp, error) {
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
	c := &childApp{cmd: cmd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{})}
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
			return nil, fmt.Errorf("the app %q exited before listening on PORT=%d: %s", argv[0], port, exitText(c.err))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop(time.Second)
			return nil, fmt.Errorf("the app %q did not listen on PORT=%d within %s", argv[0], port, timeout)
		}
	}
}

// stop sends SIGTERM and waits up to grace, then kills.
func (c *childApp) stop(grace time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// exitCode is the status mitosis exits with when the child died.
func (c *childApp) exitCode() int {
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		if code := ee.ExitCode(); code > 0 {
			return code
		}
	}
	return 1
}

func exitText(err error) string {
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
