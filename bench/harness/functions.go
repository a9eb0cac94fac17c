package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// functionsResults is the cost of one function call, measured by
// bench/fncost: its Markdown table and the modes it could run.
type functionsResults struct {
	modes   string
	table   string
	skipped string // why the container modes did not run, if they did not
	took    time.Duration
}

// fncostArgs are the calls and concurrency levels of every mode.
var fncostArgs = []string{"-n", "40", "-c", "1,4"}

// runFunctions runs bench/fncost: a local process always; a container on
// no network (docker) and on an attachable overlay (swarm) when a Docker
// daemon that is a Swarm manager answers. fncost builds its own image from
// a static binary (run.sh builds it with CGO_ENABLED=0) and removes what
// it creates.
func (r *runner) runFunctions(ctx context.Context) (*functionsResults, error) {
	res := &functionsResults{modes: "process"}
	ictx, cancel := context.WithTimeout(ctx, 20*time.Second)
	out, err := exec.CommandContext(ictx, "docker", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").Output()
	cancel()
	switch {
	case err != nil:
		res.skipped = "no Docker daemon answered `docker info`"
	case strings.TrimSpace(string(out)) != "active true":
		res.modes, res.skipped = "process,docker", "the Docker daemon is not a Swarm manager"
	default:
		res.modes = "process,docker,swarm"
	}
	args := append(append([]string{}, fncostArgs...), "-modes", res.modes)
	r.logf("functions: fncost %s", strings.Join(args, " "))
	start := time.Now()
	cmd := exec.CommandContext(ctx, r.bin("fncost"), args...)
	cmd.Stderr = r.log
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("fncost: %w", err)
	}
	res.took = time.Since(start)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "|") {
			res.table += line + "\n"
		}
	}
	return res, nil
}

func (rep *report) functionsSection() string {
	f := rep.functions
	var b strings.Builder
	b.WriteString("## Function containers: the cost of one call\n\n")
	fmt.Fprintf(&b, "`bench/fncost %s -modes %s` (%s): calls through `functions.Set` as a replica makes them, from the call to its result, one at a time and four at a time, after one warm-up call. **process**: the function is a local program (the process driver, `go run`). **docker**: a container on no network (created, attached, started, fed stdin, waited for, removed). **swarm**: the same on an attachable overlay network, what a replica on Swarm runs through the engine socket (a container stays attached to the network, as the replica's own task does). The function reads stdin and prints a CGI header and `ok`; every container gets the forced-safe settings.\n\n",
		strings.Join(fncostArgs, " "), f.modes, f.took.Round(time.Second))
	if f.skipped != "" {
		fmt.Fprintf(&b, "Container modes skipped: %s.\n\n", f.skipped)
	}
	b.WriteString(f.table)
	b.WriteString("\n")
	return b.String()
}
