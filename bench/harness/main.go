// Command harness is the benchmark harness of mitosis. bench/run.sh builds
// it with the other programs of bench/ and runs it; it can also be run by
// hand from the repository root:
//
//	bench/out/bin/harness [all|loops|https|functions|memory|profile|reaction] [flags]
//
// It measures the mitosis binary only through what any user sees (its
// MITOSIS_* variables, its ports, /metrics and /_mitosis/state), next to
// a direct connection and to nginx, HAProxy and Caddy, and writes the
// results as markdown (BENCHMARKS.md for a full run). See BENCHMARKS.md
// for what each table means.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	mode           string
	quick          bool
	rounds         int
	duration       time.Duration
	conns          int
	rates          []float64
	portBase       int
	out, absOut    string
	binDir         string
	repo           string
	md             string
	svgCopy        string
	idleConns      int
	haproxyMaxconn int
	command        string

	reactionFrom, reactionTo int
	reactionPath             string
	reactionPre              time.Duration
	reactionStep             time.Duration
	reactionPostMax          time.Duration
	reactionTail             time.Duration
}

var modes = []string{"all", "loops", "https", "functions", "memory", "profile", "reaction"}

func parseOptions(args []string) (options, error) {
	o := options{mode: "all"}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.mode, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "development run: 1 round of 3 s, no reaction run (unless the mode is reaction)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of every measurement; the median is reported")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each closed- and open-loop measurement (whole seconds)")
	fs.IntVar(&o.conns, "conns", 64, "connections of wrk and of the open-loop pool")
	rates := fs.String("rates", "5000,10000", "open-loop rates in req/s, comma-separated")
	fs.IntVar(&o.portBase, "port-base", 19000, "first of the loopback ports the run uses")
	fs.StringVar(&o.out, "out", "bench/out", "directory for logs, configs, profiles, CSV and SVG")
	fs.StringVar(&o.binDir, "bin", "", "directory of the built programs (default <out>/bin)")
	fs.StringVar(&o.repo, "repo", ".", "repository root (for go test ./balancer/ and git)")
	fs.StringVar(&o.md, "md", "", "markdown report to write (default: BENCHMARKS.md for a full run, <out>/BENCHMARKS.md otherwise)")
	fs.StringVar(&o.svgCopy, "svg", "bench/reaction.svg", "where the reaction picture is copied for BENCHMARKS.md")
	fs.IntVar(&o.idleConns, "idle-conns", 10000, "idle keep-alive connections of the memory test")
	fs.IntVar(&o.haproxyMaxconn, "haproxy-maxconn", 0, "HAProxy maxconn; 0: the most the open-file limit allows (2 descriptors per connection)")
	fs.StringVar(&o.command, "cmd", "", "the command line to print in the report (set by bench/run.sh)")
	fs.IntVar(&o.reactionFrom, "reaction-from", 5, "clients before the load step")
	fs.IntVar(&o.reactionTo, "reaction-to", 60, "clients during the load step")
	fs.StringVar(&o.reactionPath, "reaction-path", "/work?ms=100", "demo app path the clients request")
	fs.DurationVar(&o.reactionPre, "reaction-pre", 20*time.Second, "time at the low load before the step")
	fs.DurationVar(&o.reactionStep, "reaction-step", 90*time.Second, "time at the high load")
	fs.DurationVar(&o.reactionPostMax, "reaction-post-max", 4*time.Minute, "longest wait for the scale-down after the load stops")
	fs.DurationVar(&o.reactionTail, "reaction-tail", 10*time.Second, "time recorded after replicas are back to the minimum")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q (the mode goes first: one of %s)", fs.Args(), strings.Join(modes, ", "))
	}
	var errs []error
	if !contains(modes, o.mode) {
		errs = append(errs, fmt.Errorf("mode = %q, must be one of %s", o.mode, strings.Join(modes, ", ")))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["rounds"] {
			o.rounds = 1
		}
		if !set["duration"] {
			o.duration = 3 * time.Second
		}
	}
	for _, s := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || v <= 0 || v > 1e6 {
			errs = append(errs, fmt.Errorf("-rates: %q must be a rate in (0; 1000000]", s))
			continue
		}
		o.rates = append(o.rates, v)
	}
	if o.rounds < 1 || o.rounds > 20 {
		errs = append(errs, fmt.Errorf("-rounds = %d, must be in [1; 20]", o.rounds))
	}
	if o.duration < time.Second || o.duration > 10*time.Minute {
		errs = append(errs, fmt.Errorf("-duration = %s, must be in [1s; 10m]", o.duration))
	}
	if o.conns < 1 || o.conns > 10000 {
		errs = append(errs, fmt.Errorf("-conns = %d, must be in [1; 10000]", o.conns))
	}
	if o.portBase < 1024 || o.portBase+portsUsed > 65535 {
		errs = append(errs, fmt.Errorf("-port-base = %d, must be in [1024; %d]", o.portBase, 65535-portsUsed))
	}
	if o.idleConns < 1 || o.idleConns > 100000 {
		errs = append(errs, fmt.Errorf("-idle-conns = %d, must be in [1; 100000]", o.idleConns))
	}
	if o.reactionFrom < 0 || o.reactionTo < 1 || o.reactionTo > 1000 || o.reactionFrom > o.reactionTo {
		errs = append(errs, fmt.Errorf("-reaction-from = %d, -reaction-to = %d: need 0 <= from <= to <= 1000, to >= 1", o.reactionFrom, o.reactionTo))
	}
	if o.reactionPre < 0 || o.reactionStep <= 0 || o.reactionPostMax <= 0 || o.reactionTail < 0 ||
		o.reactionPre+o.reactionStep+o.reactionPostMax > time.Hour {
		errs = append(errs, errors.New("-reaction-pre/-step/-post-max/-tail must be positive and add up to at most 1h"))
	}
	if o.binDir == "" {
		o.binDir = filepath.Join(o.out, "bin")
	}
	if o.md == "" {
		o.md = filepath.Join(o.out, "BENCHMARKS.md")
		if o.mode == "all" && !o.quick {
			o.md = filepath.Join(o.repo, "BENCHMARKS.md")
		}
	}
	var err error
	if o.absOut, err = filepath.Abs(o.out); err != nil {
		errs = append(errs, err)
	}
	return o, errors.Join(errs...)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// runner is one run of the harness.
type runner struct {
	o    options
	ps   *procs
	tick float64
	log  *os.File
}

func (r *runner) bin(name string) string { return filepath.Join(r.o.binDir, name) }

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func main() {
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	r := &runner{o: o, ps: &procs{logDir: filepath.Join(o.out, "logs")}, tick: clockTick(), log: os.Stderr}
	err = r.run(ctx)
	r.ps.stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

func (r *runner) run(ctx context.Context) error {
	o := r.o
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	for off := range portsUsed {
		if !portFree(r.addr(off)) {
			return fmt.Errorf("port %s is taken: choose another -port-base", r.addr(off))
		}
	}
	rep := &report{o: o, machine: machineInfo(ctx, o), started: time.Now()}
	up, err := r.ps.start("upstream", nil, r.bin("upstream"), "-listen", r.addr(offUpstream))
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, up, "http://"+r.addr(offUpstream)+"/", 10*time.Second); err != nil {
		return err
	}
	starters := []starter{
		{"mitosis local", r.startLocal},
		{"nginx", r.startNginx},
		{"haproxy", r.startHAProxy},
		{"caddy", r.startCaddy},
	}
	if o.mode == "all" || o.mode == "loops" {
		direct := &target{name: "direct", url: "http://" + r.addr(offUpstream) + "/", note: "no proxy: wrk → upstream"}
		targets := []*target{direct}
		for _, st := range []starter{starters[0], {"mitosis forward", r.startForward}, starters[1], {"nginx chain", r.startNginxChain}, starters[2], starters[3]} {
			t, err := st.start(ctx)
			if err != nil {
				return err
			}
			targets = append(targets, t)
		}
		if rep.loops, err = r.runLoops(ctx, targets); err != nil {
			return err
		}
		for _, t := range targets {
			for _, p := range t.procs {
				r.ps.stopOne(p)
			}
		}
	}
	if o.mode == "all" || o.mode == "https" {
		if rep.https, err = r.runHTTPS(ctx); err != nil {
			return err
		}
	}
	if o.mode == "all" || o.mode == "functions" {
		if rep.functions, err = r.runFunctions(ctx); err != nil {
			return err
		}
	}
	if o.mode == "all" || o.mode == "memory" {
		if rep.memory, err = r.runMemory(ctx, starters); err != nil {
			return err
		}
	}
	if o.mode == "all" || o.mode == "profile" {
		if rep.profile, err = r.runProfile(ctx); err != nil {
			return err
		}
	}
	if o.mode == "reaction" || o.mode == "all" && !o.quick {
		if rep.reaction, err = r.runReaction(ctx); err != nil {
			return err
		}
		if rep.svg, err = r.drawReaction(ctx, rep.reaction); err != nil {
			return err
		}
	}
	rep.finished = time.Now()
	md := rep.markdown()
	fmt.Print(md)
	if err := os.WriteFile(o.md, []byte(md), 0o644); err != nil {
		return err
	}
	r.logf("wrote %s", o.md)
	return nil
}

// starter starts one target.
type starter struct {
	name  string
	start func(context.Context) (*target, error)
}
