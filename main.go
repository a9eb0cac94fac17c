// Command mitosis is a self-replicating HTTP front end: a reverse proxy with
// a built-in load balancer that shares load with its sibling replicas and
// grows or shrinks their number through a driver (Swarm, Docker, or child
// processes). See README.md and DESIGN.md.
//
// This package only reads the command line: the replica itself is wired in
// internal/replica, its settings in internal/config.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mitosis-run/mitosis/certs"
	"github.com/mitosis-run/mitosis/internal/admin"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/internal/replica"
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
	log := replica.NewLogger(c, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts := []replica.Option{replica.WithEnviron(environ), replica.WithLogger(log)}
	if len(rest) > 0 {
		opts = append(opts, replica.WithCommand(rest))
	}
	r, err := replica.Start(c, opts...)
	var fileErr *certs.FileError
	if errors.As(err, &fileErr) {
		// A certificate or key that cannot be served is bad input, like
		// an invalid setting.
		printErrors(stderr, err)
		return 2
	}
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	return r.Wait(ctx)
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
	ready := false
	var rest []string
	for _, a := range args {
		if a == "-ready" || a == "--ready" {
			ready = true
			continue
		}
		rest = append(rest, a)
	}
	c, _, _, err := config.Load(environ, rest)
	if err != nil {
		printErrors(stderr, err)
		return 2
	}
	if err := admin.Check(context.Background(), c.AdminListen, ready); err != nil {
		fmt.Fprintf(stderr, "mitosis healthcheck: %v\n", err)
		return 1
	}
	return 0
}
