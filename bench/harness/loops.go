package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sample is one measurement of one target. Latencies are in ms.
type sample struct {
	rps      float64
	p50      float64
	p99      float64
	p999     float64
	requests int64 // answered (wrk: completed; open loop: 2xx)
	errors   int64 // wrk: connect+read+write+timeout+non-2xx; open loop: errors+missed
	cpuS     float64
	hasCPU   bool
	check    string
	lagP99   float64 // open loop only: how late the generator sent (ms)
}

// cpuPer100k is the proxy's CPU seconds per 100,000 answered requests.
func (s sample) cpuPer100k() float64 {
	if !s.hasCPU || s.requests == 0 {
		return -1
	}
	return s.cpuS / float64(s.requests) * 1e5
}

// wrkScript makes wrk print its totals and p50/p99/p99.9 on one line:
// --latency alone prints no p99.9.
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`

// wrk runs one closed-loop measurement: -t1 -c<conns> for d; extra
// arguments (e.g. a header) go before the URL.
func (r *runner) wrk(ctx context.Context, url string, d time.Duration, extra ...string) (sample, error) {
	script := filepath.Join(r.o.out, "conf", "report.lua")
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		return sample{}, err
	}
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return sample{}, err
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	args := append([]string{"-t1", "-c" + strconv.Itoa(r.o.conns), "-d" + strconv.Itoa(secs) + "s", "--latency", "--timeout", "5s", "-s", script}, extra...)
	args = append(args, url)
	cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return sample{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return parseWrk(string(out))
}

// parseWrk reads the BENCH line of wrkScript.
func parseWrk(out string) (sample, error) {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, "BENCH ")
		if !ok {
			continue
		}
		kv := map[string]float64{}
		for _, f := range strings.Fields(rest) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return sample{}, fmt.Errorf("wrk: bad field %q", f)
			}
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return sample{}, fmt.Errorf("wrk: field %q: %w", f, err)
			}
			kv[k] = n
		}
		for _, k := range []string{"requests", "duration_us", "p50_us", "p99_us", "p999_us", "connect", "read", "write", "status", "timeout"} {
			if _, ok := kv[k]; !ok {
				return sample{}, fmt.Errorf("wrk: no %s in %q", k, line)
			}
		}
		if kv["duration_us"] <= 0 {
			return sample{}, fmt.Errorf("wrk: duration 0 in %q", line)
		}
		return sample{
			rps:      kv["requests"] / (kv["duration_us"] / 1e6),
			p50:      kv["p50_us"] / 1e3,
			p99:      kv["p99_us"] / 1e3,
			p999:     kv["p999_us"] / 1e3,
			requests: int64(kv["requests"]),
			errors:   int64(kv["connect"] + kv["read"] + kv["write"] + kv["status"] + kv["timeout"]),
		}, nil
	}
	return sample{}, fmt.Errorf("wrk printed no BENCH line:\n%s", out)
}

// openResult is the JSON that bench/openloop prints.
type openResult struct {
	OK          int64   `json:"ok"`
	Errors      int64   `json:"errors"`
	Missed      int64   `json:"missed"`
	AchievedRPS float64 `json:"achieved_rps"`
	P50US       float64 `json:"p50_us"`
	P99US       float64 `json:"p99_us"`
	P999US      float64 `json:"p999_us"`
	LagP99US    float64 `json:"lag_p99_us"`
}

// grace is how long the open loop waits for answers after its schedule.
const grace = 5 * time.Second

func (r *runner) openLoop(ctx context.Context, url string, rate float64, d time.Duration) (sample, error) {
	args := []string{"-url", url, "-rate", strconv.FormatFloat(rate, 'f', -1, 64), "-duration", d.String(),
		"-conns", strconv.Itoa(r.o.conns), "-grace", grace.String()}
	cctx, cancel := context.WithTimeout(ctx, d+grace+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, r.bin("openloop"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return sample{}, fmt.Errorf("openloop %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var o openResult
	if err := json.Unmarshal(out, &o); err != nil {
		return sample{}, fmt.Errorf("openloop output %q: %w", out, err)
	}
	return sample{
		rps: o.AchievedRPS, p50: o.P50US / 1e3, p99: o.P99US / 1e3, p999: o.P999US / 1e3,
		requests: o.OK, errors: o.Errors + o.Missed, lagP99: o.LagP99US / 1e3,
	}, nil
}

// measure runs gen against t and charges the CPU its proxy processes
// spent meanwhile.
func (r *runner) measure(ctx context.Context, t *target, hold time.Duration, gen func() (sample, error)) (sample, error) {
	var s sample
	run := func() (int64, error) {
		before := r.cpuTicks(t)
		var err error
		s, err = gen()
		after := r.cpuTicks(t)
		if len(t.procs) > 0 {
			s.cpuS, s.hasCPU = float64(after-before)/r.tick, true
		}
		return s.requests, err
	}
	if t.around == nil {
		_, err := run()
		return s, err
	}
	check, err := t.around(ctx, hold, run)
	s.check = check
	return s, err
}

func (r *runner) cpuTicks(t *target) uint64 {
	var n uint64
	for _, p := range t.procs {
		n += treeTicks(p.pid())
	}
	return n
}

// loopResults holds every round of every target, in target order.
type loopResults struct {
	targets []string
	notes   map[string]string
	closed  map[string][]sample
	open    map[string]map[float64][]sample
	hwmKB   map[string]uint64 // peak RSS after all rounds
}

// runLoops interleaves the targets in rounds: round 1 measures every
// target once (closed loop, then each open-loop rate), then round 2, so a
// burst of noise from the shared machine hits all targets alike. Each
// round takes the targets in another order (roundOrder), so that no
// target follows the same one twice: what ran just before leaves its mark
// on the upstream and the sockets (after direct, measured with wrk: 2-4%
// fewer req/s for the next target).
func (r *runner) runLoops(ctx context.Context, targets []*target) (*loopResults, error) {
	res := &loopResults{notes: map[string]string{}, closed: map[string][]sample{}, open: map[string]map[float64][]sample{}, hwmKB: map[string]uint64{}}
	for _, t := range targets {
		res.targets = append(res.targets, t.name)
		res.notes[t.name] = t.note
		res.open[t.name] = map[float64][]sample{}
		// Warm-up: connection pools filled, lazy initialisation done.
		if _, err := r.measure(ctx, t, 2*time.Second+30*time.Second, func() (sample, error) { return r.wrk(ctx, t.url, time.Second) }); err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", t.name, err)
		}
	}
	for round := 1; round <= r.o.rounds; round++ {
		order := roundOrder(len(targets), round)
		r.logf("round %d/%d: order %s", round, r.o.rounds, orderNames(targets, order))
		for _, i := range order {
			t := targets[i]
			r.logf("round %d/%d: %s closed loop (wrk -t1 -c%d -d%s)", round, r.o.rounds, t.name, r.o.conns, r.o.duration)
			s, err := r.measure(ctx, t, r.o.duration+30*time.Second, func() (sample, error) { return r.wrk(ctx, t.url, r.o.duration) })
			if err != nil {
				return nil, fmt.Errorf("%s closed loop: %w", t.name, err)
			}
			r.logf("  %.0f req/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, errors %d %s", s.rps, s.p50, s.p99, s.p999, s.errors, s.check)
			res.closed[t.name] = append(res.closed[t.name], s)
			pause(ctx)
			for _, rate := range r.o.rates {
				r.logf("round %d/%d: %s open loop %.0f req/s", round, r.o.rounds, t.name, rate)
				s, err := r.measure(ctx, t, r.o.duration+grace+30*time.Second, func() (sample, error) { return r.openLoop(ctx, t.url, rate, r.o.duration) })
				if err != nil {
					return nil, fmt.Errorf("%s open loop %.0f: %w", t.name, rate, err)
				}
				r.logf("  achieved %.0f req/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, errors %d, sender lag p99 %.2f ms %s", s.rps, s.p50, s.p99, s.p999, s.errors, s.lagP99, s.check)
				res.open[t.name][rate] = append(res.open[t.name][rate], s)
				pause(ctx)
			}
		}
	}
	for _, t := range targets {
		var kb uint64
		for _, p := range t.procs {
			kb += treeMemKB(p.pid(), "VmHWM")
		}
		res.hwmKB[t.name] = kb
	}
	return res, nil
}

// roundOrder returns the order of n targets (indices) in round (from 1).
// Round r starts at target r-1 and walks the list in steps of the r-th
// step size coprime with n (1, then 2, ... for n = 7), so the target
// before each one differs from round to round, for as many rounds as
// there are such steps (n-1 when n is prime); then the steps repeat.
// Rotation alone, as before, kept every target behind the same one.
func roundOrder(n, round int) []int {
	if n == 0 {
		return nil
	}
	var steps []int
	for s := 1; s < max(n, 2); s++ {
		if gcd(s, n) == 1 {
			steps = append(steps, s)
		}
	}
	step := steps[(round-1)%len(steps)]
	order := make([]int, n)
	for i := range order {
		order[i] = (round - 1 + i*step) % n
	}
	return order
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// orderNames is order as the targets' names, for the log.
func orderNames(targets []*target, order []int) string {
	names := make([]string, len(order))
	for i, k := range order {
		names[i] = targets[k].name
	}
	return strings.Join(names, ", ")
}

// pause lets sockets in TIME_WAIT and the targets' garbage settle between
// measurements.
func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
}
