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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mitosis-run/mitosis/certs"
	"github.com/mitosis-run/mitosis/guard"
	"github.com/mitosis-run/mitosis/internal/admin"
	"github.com/mitosis-run/mitosis/internal/buildinfo"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/internal/replica"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// subcommands are the words the command line knows; any other bare word
// before -- is a mistake (a program to run goes after --).
var subcommands = []string{"config", "healthcheck", "version", "help"}

// run is main without os.Exit, for tests. It returns the exit status: 0 on
// a clean drain, 2 for a bad command line or configuration, the app's
// status if it died (also during start-up), 1 for other failures.
func run(args, environ []string, stdout, stderr io.Writer) int {
	// The guard is another program in the same binary, with settings of
	// its own (MITOSIS_GUARD_*): it reads none of the replica's flags.
	if len(args) > 0 && args[0] == "guard" {
		return guard.Main(args[1:], environ, stdout, stderr)
	}
	var help, version, ready bool
	c, a, warnings, err := config.Parse(environ, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&help, "h", false, "print the usage")
		fs.BoolVar(&help, "help", false, "print the usage")
		fs.BoolVar(&version, "version", false, "print the build")
		fs.BoolVar(&ready, "ready", false, "healthcheck: ask /readyz instead of /healthz")
	})
	sub, wordErr := config.Subcommand(a.Words, subcommands, map[string]string{
		"guard": "guard comes first and takes no replica flags: mitosis guard [config|healthcheck]",
	})
	switch {
	case help || sub == "help":
		usage(stdout)
		return 0
	case version || sub == "version":
		fmt.Fprintln(stdout, buildinfo.Read())
		return 0
	case wordErr != nil:
		fmt.Fprintf(stderr, "mitosis: %v\n", wordErr)
		return 2
	}
	printWarnings(stderr, warnings)
	if err != nil {
		printErrors(stderr, err)
		return 2
	}
	if ready && sub != "healthcheck" {
		fmt.Fprintln(stderr, "mitosis: -ready belongs to mitosis healthcheck")
		return 2
	}
	if sub != "" && len(a.Command) > 0 {
		fmt.Fprintf(stderr, "mitosis: %s takes no command after --\n", sub)
		return 2
	}
	switch sub {
	case "config":
		c.Print(stdout)
		return 0
	case "healthcheck":
		if err := admin.Check(context.Background(), c.AdminListen, ready); err != nil {
			fmt.Fprintf(stderr, "mitosis healthcheck: %v\n", err)
			return 1
		}
		return 0
	}
	if len(a.Command) > 0 && c.Upstream != "" {
		fmt.Fprintf(stderr, "mitosis: give either MITOSIS_UPSTREAM=%s or a command after --, not both\n", c.Upstream)
		return 2
	}
	if err := replica.CheckFileLimit(c); err != nil {
		printErrors(stderr, err)
		return 2
	}
	log := replica.NewLogger(c, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts := []replica.Option{replica.WithEnviron(environ), replica.WithLogger(log)}
	if len(a.Command) > 0 {
		opts = append(opts, replica.WithCommand(a.Command))
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
		// The app died before it listened: its status, as when it dies
		// later.
		var exit interface{ ExitCode() int }
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
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
  mitosis [flags]                  serve the demo app (or MITOSIS_UPSTREAM)
  mitosis [flags] -- CMD ARGS...   start CMD with PORT set and serve it
  mitosis config [flags]           print the effective configuration
  mitosis healthcheck [-ready]     exit 0 when this replica is healthy (ready)
  mitosis guard                    serve the guard, the one holder of the Docker socket
                                   (MITOSIS_GUARD_* settings; see README)
  mitosis guard config|healthcheck print the guard's settings; check the local guard
  mitosis version, --version       print the build
  mitosis help, -h, --help         print this

Commands and flags may come in any order; a program to run always goes
after --. Every flag mirrors a MITOSIS_* variable (flags win over the
environment); boolean flags work bare (-dry-run) or with =false.

flags:
`)
	config.Usage(w)
}
