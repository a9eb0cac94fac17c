// Command fncost measures what one function call costs, from the call to
// its result (a container created, attached, started, waited for and
// removed; or a process started and reaped), through functions.Set as a
// replica runs it:
//
//	go build -o /tmp/fncost ./bench/fncost          # CGO_ENABLED=0: it copies itself into an image
//	flock /tmp/mitosis-bench.lock flock /tmp/mitosis-docker.lock /tmp/fncost -n 40 -c 1,4
//
// Modes (-modes): process (this program as a local function, the process
// driver), docker (a container on no network, a plain engine) and swarm (a
// container on an attachable overlay network, what a replica on Swarm runs
// through the engine socket). It builds a FROM-scratch image of itself, an
// overlay network and a container that holds the network on this node (as
// a replica's task does), all named fncost-*, and removes them. It prints a
// Markdown table: calls, concurrency, p50/p90/max latency and calls per
// second.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mitosis-run/mitosis/bench/internal/stats"
	"github.com/mitosis-run/mitosis/functions"
	"github.com/mitosis-run/mitosis/spawner"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "pin" {
		// Holds the overlay network on this node until docker rm -f. (An
		// empty select would be a deadlock: no other goroutine runs.)
		for {
			time.Sleep(time.Hour)
		}
	}
	if len(os.Args) > 1 && os.Args[1] == "fn" {
		// The function itself: read stdin, answer. As small as a function gets.
		_, _ = io.Copy(io.Discard, os.Stdin)
		fmt.Print("Content-Type: text/plain\n\nok\n")
		return
	}
	n := flag.Int("n", 40, "calls per mode and concurrency")
	conc := flag.String("c", "1,4", "concurrency levels, comma-separated")
	modes := flag.String("modes", "process,docker,swarm", "modes to measure")
	flag.Parse()
	if err := run(*n, *conc, strings.Split(*modes, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "fncost:", err)
		os.Exit(1)
	}
}

type row struct {
	mode          string
	c, calls      int
	p50, p90, top time.Duration
	perSecond     float64
	failed        int
}

func run(n int, concList string, modes []string) error {
	var levels []int
	for _, s := range strings.Split(concList, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 1 {
			return fmt.Errorf("-c %q: want positive whole numbers", concList)
		}
		levels = append(levels, c)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	id := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	image, network := "fncost:"+id, "fncost-"+id
	var engine *spawner.Engine
	if slices.Contains(modes, "docker") || slices.Contains(modes, "swarm") {
		if err := buildImage(self, image); err != nil {
			return err
		}
		defer docker("rmi", "-f", image)
		if engine, err = spawner.NewEngine(spawner.DefaultEngineConfig()); err != nil {
			return err
		}
		defer engine.Close()
	}
	if slices.Contains(modes, "swarm") {
		if _, err := docker("network", "create", "-d", "overlay", "--attachable", network); err != nil {
			return err
		}
		defer removeNetwork(network)
		// A replica's own task keeps its network on its node. Without a
		// container that stays attached, the node leaves the network
		// whenever its last function container goes, and a start at that
		// moment fails with "network ... not found" (docker/compose#12567).
		if _, err := docker("run", "-d", "--name", network+"-pin", "--network", network, image, "pin"); err != nil {
			return err
		}
		defer docker("rm", "-f", network+"-pin")
	}
	var rows []row
	for _, mode := range modes {
		for _, c := range levels {
			cfg := functions.DefaultConfig()
			cfg.Concurrency, cfg.QueueMax, cfg.QueueTimeout = c, n, 10*time.Minute
			var runners functions.Runners
			switch mode {
			case "process":
				cfg.Functions = []functions.Function{{Name: "fn", Command: self, Args: []string{"fn"}}}
				runners.Exec = &functions.ProcessRunner{}
			case "docker", "swarm":
				cfg.Functions = []functions.Function{{Name: "fn", Image: image, Args: []string{"fn"}}}
				if mode == "swarm" {
					cfg.Network = network
				}
				tc := cfg.TaskConfig()
				tc.Owner = "fncost-" + id
				tasks, err := spawner.NewTasks(engine, tc)
				if err != nil {
					return err
				}
				runners.Image = &functions.ContainerRunner{Tasks: tasks, Network: cfg.Network}
			default:
				return fmt.Errorf("-modes: unknown mode %q (process, docker, swarm)", mode)
			}
			set, err := functions.New(cfg, runners, nil, nil)
			if err != nil {
				return err
			}
			// One call first: the image's layers and the network are warm
			// for every mode alike.
			if _, err := set.Call(context.Background(), "fn", functions.Request{}); err != nil {
				return fmt.Errorf("%s: warm-up call: %w", mode, err)
			}
			rows = append(rows, measure(set, mode, n, c))
			_ = set.Close(context.Background())
		}
	}
	fmt.Println("| mode | concurrency | calls | p50 ms | p90 ms | max ms | calls/s | failed |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %d | %d | %.0f | %.0f | %.0f | %.1f | %d |\n", r.mode, r.c, r.calls, ms(r.p50), ms(r.p90), ms(r.top), r.perSecond, r.failed)
	}
	return nil
}

// measure makes n calls, c at a time.
func measure(set *functions.Set, mode string, n, c int) row {
	var mu sync.Mutex
	var lat []time.Duration
	failed := 0
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				t := time.Now()
				res, err := set.Call(context.Background(), "fn", functions.Request{Stdin: []byte("x")})
				d := time.Since(t)
				mu.Lock()
				if err != nil || res.ExitCode != 0 || !strings.HasSuffix(string(res.Stdout), "ok\n") {
					if failed == 0 {
						fmt.Fprintf(os.Stderr, "fncost: %s c=%d: first failure: %v (exit %d, stdout %q, stderr %q)\n",
							mode, c, err, res.ExitCode, res.Stdout, res.Stderr)
					}
					failed++
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	slices.Sort(lat)
	return row{mode: mode, c: c, calls: n, failed: failed, perSecond: float64(len(lat)) / total.Seconds(),
		p50: stats.Percentile(lat, 50), p90: stats.Percentile(lat, 90), top: stats.Percentile(lat, 100)}
}

// removeNetwork removes the overlay network, waiting up to 30 s for the
// manager to release the attachments of the containers just removed.
func removeNetwork(name string) {
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := docker("network", "rm", name)
		if err == nil || time.Now().After(deadline) {
			if err != nil {
				fmt.Fprintln(os.Stderr, "fncost:", err)
			}
			return
		}
		time.Sleep(time.Second) // the manager releases attachments asynchronously
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// buildImage wraps this program in a FROM-scratch image (it must be a
// static binary: CGO_ENABLED=0).
func buildImage(self, image string) error {
	dir, err := os.MkdirTemp("", "fncost")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "fncost"), b, 0o755); err != nil {
		return err
	}
	df := "FROM scratch\nCOPY fncost /fncost\nENTRYPOINT [\"/fncost\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("docker", "build", "-q", "-t", image, dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("docker build: %w: %s", err, out)
	}
	return nil
}
