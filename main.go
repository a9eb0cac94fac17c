// Command mitosis is a self-replicating HTTP front end: a reverse proxy with
// a built-in load balancer that shares load with its sibling replicas and
// grows or shrinks their number through a driver (Swarm, Docker, or child
// processes). See README.md and DESIGN.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/mitosis-run/mitosis/internal/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run is main without os.Exit, for tests. It returns the exit status: 0 on
// a clean drain, 2 for bad configuration, the app's status if it died.
func run(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "config":
			c, _, warnings, err := config.Load(environ, args[1:])
			printWarnings(stderr, warnings)
			if err != nil {
				printErrors(stderr, err)
				return 2
			}
			c.Print(stdout)
			return 0
		case "healthcheck":
			return healthcheck(environ, args[1:], stderr)
		case "help", "-h", "-help", "--help":
			usage(stdout)
			return 0
		}
	}
	c, rest, warnings, err := config.Load(environ, args)
	printWarnings(stderr, warnings)
	if err != nil {
		printErrors(stderr, err)
		return 2
	}
	if len(rest) > 0 && c.Upstream != "" {
		fmt.Fprintf(stderr, "mitosis: give either MITOSIS_UPSTREAM=%s or a command after --, not both\n", c.Upstream)
		return 2
	}
	log := newLogger(c, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	n, err := start(ctx, c, rest, environ, log)
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	return n.wait(ctx)
}

func printErrors(w io.Writer, err error) {
	for _, p := range config.Problems(err) {
		fmt.Fprintf(w, "mitosis: %s\n", p)
	}
}

func printWarnings(w io.Writer, warnings []string) {
	for _, s := range warnings {
		fmt.Fprintf(w, "mitosis: warning: %s\n", s)
	}
}

func newLogger(c config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("replica", c.ReplicaID)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  mitosis [flags]                 serve the demo app (or MITOSIS_UPSTREAM)
  mitosis [flags] -- CMD ARGS...  start CMD with PORT set and serve it
  mitosis config                  print the effective configuration
  mitosis healthcheck [-ready]    exit 0 when this replica is healthy (ready)

Every flag mirrors a MITOSIS_* variable (-max-inflight = MITOSIS_MAX_INFLIGHT);
run "mitosis config" to list them with their values.
`)
}

// healthcheck asks the local admin server for /healthz (or /readyz with
// -ready): the HEALTHCHECK of images that have no shell or curl.
func healthcheck(environ, args []string, stderr io.Writer) int {
	path := "/healthz"
	var rest []string
	for _, a := range args {
		if a == "-ready" || a == "--ready" {
			path = "/readyz"
			continue
		}
		rest = append(rest, a)
	}
	c, _, _, err := config.Load(environ, rest)
	if err != nil {
		printErrors(stderr, err)
		return 2
	}
	host, port, _ := net.SplitHostPort(c.AdminListen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + path)
	if err != nil {
		fmt.Fprintf(stderr, "mitosis healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		fmt.Fprintf(stderr, "mitosis healthcheck: %s %s: %s\n", path, resp.Status, body)
		return 1
	}
	return 0
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

var errDrainTimeout = errors.New("drain timeout: requests were still in flight")
