package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mitosis-run/mitosis/bench/internal/stats"
)

// reactionResult is the reaction run: a load step on the demo app under
// the process driver with default scaling settings.
type reactionResult struct {
	settings []string // scaling settings as `mitosis config` printed them
	minRep   int
	start    time.Time
	step     time.Time
	stop     time.Time
	end      time.Time
	// Event times; zero when not seen.
	upDecision   time.Time
	upDesired    int
	firstRunning time.Time // state: replicas.running above the start count
	firstReady   time.Time // state: a new sibling ready in the table
	firstServed  time.Time // load generator: a new X-Mitosis-Replica
	servedBy     map[string]int
	downDecision time.Time
	downDesired  int
	backToMin    time.Time
	peakRunning  int
	peakDesired  int
	stepP95      float64 // ms, requests completed during the step
	baseP95      float64 // ms, before the step
	requests     int
	errors       int
	decisions    []decision
	rows         []reactionRow
}

type reactionRow struct {
	t                         time.Time
	level, running, desired   int
	ready                     int
	p95ms, errors, rps, inflt float64
}

// completion is one answered (or failed) request of the step load.
type completion struct {
	t       time.Time
	lat     time.Duration
	ok      bool
	replica string
}

// stepLoad is a closed-loop generator whose concurrency can be changed:
// worker i runs while i < level.
type stepLoad struct {
	url    string
	level  atomic.Int32
	client *http.Client
	mu     sync.Mutex
	done   []completion
}

func (l *stepLoad) worker(ctx context.Context, id int32) {
	for ctx.Err() == nil {
		if id >= l.level.Load() {
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		t0 := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
		resp, err := l.client.Do(req)
		c := completion{}
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c.ok = err == nil && resp.StatusCode/100 == 2
			c.replica = resp.Header.Get("X-Mitosis-Replica")
		}
		if ctx.Err() != nil {
			return // cut off by the end of the run, not the target's fault
		}
		c.t = time.Now()
		c.lat = c.t.Sub(t0)
		l.mu.Lock()
		l.done = append(l.done, c)
		l.mu.Unlock()
		if !c.ok {
			time.Sleep(10 * time.Millisecond) // a failing target is not hammered in a tight loop
		}
	}
}

func (r *runner) runReaction(ctx context.Context) (*reactionResult, error) {
	o := r.o
	env := []string{"MITOSIS_LISTEN=" + r.addr(offReaction), "MITOSIS_ADMIN_LISTEN=" + r.addr(offReactionAdmin), "MITOSIS_DRIVER=process"}
	res := &reactionResult{minRep: 1, servedBy: map[string]int{}}
	cfg := exec.CommandContext(ctx, r.bin("mitosis"), "config")
	cfg.Env = append(cfg.Environ(), env...)
	out, err := cfg.Output()
	if err != nil {
		return nil, fmt.Errorf("mitosis config: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		kv, _, _ := strings.Cut(l, "\t")
		k, v, _ := strings.Cut(kv, "=")
		switch strings.TrimPrefix(k, "MITOSIS_") {
		case "MIN_REPLICAS":
			res.minRep, _ = strconv.Atoi(v)
			fallthrough
		case "MAX_REPLICAS", "TARGET_CONCURRENCY", "TARGET_UTILIZATION", "LATENCY_SLO", "STABLE_WINDOW", "PANIC_WINDOW",
			"PANIC_THRESHOLD", "SCALE_UP_RATE", "SCALE_DOWN_RATE", "SCALE_DOWN_DELAY", "TICK", "MAX_INFLIGHT", "DRIVER":
			res.settings = append(res.settings, kv)
		}
	}

	p, err := r.ps.start("mitosis-reaction", env, r.bin("mitosis"))
	if err != nil {
		return nil, err
	}
	defer r.ps.stopOne(p)
	if err := waitHTTP(ctx, p, "http://"+r.addr(offReactionAdmin)+"/readyz", 15*time.Second); err != nil {
		return nil, fmt.Errorf("reaction replica: %w", err)
	}
	first, err := getState(r.addr(offReactionAdmin))
	if err != nil {
		return nil, err
	}
	startRunning := 1
	if first.Replicas != nil && first.Replicas.Running > 0 {
		startRunning = first.Replicas.Running
	}

	load := &stepLoad{
		url:    "http://" + r.addr(offReaction) + o.reactionPath,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.reactionTo, IdleConnTimeout: time.Minute}},
	}
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	for i := range o.reactionTo {
		wg.Add(1)
		go func() { defer wg.Done(); load.worker(lctx, int32(i)) }()
	}

	res.start = time.Now()
	load.level.Store(int32(o.reactionFrom))
	r.logf("reaction: %d clients on %s for %s, then %d for %s, then 0 until back to %d replica(s) (at most %s)",
		o.reactionFrom, o.reactionPath, o.reactionPre, o.reactionTo, o.reactionStep, res.minRep, o.reactionPostMax)
	seen := map[time.Time]bool{}
	phase := 0 // 0 before the step, 1 during, 2 after
	var minSince time.Time
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	hardEnd := res.start.Add(o.reactionPre + o.reactionStep + o.reactionPostMax)
	for now := time.Now(); now.Before(hardEnd); now = time.Now() {
		switch {
		case phase == 0 && now.Sub(res.start) >= o.reactionPre:
			phase, res.step = 1, now
			load.level.Store(int32(o.reactionTo))
			r.logf("reaction: step to %d clients", o.reactionTo)
		case phase == 1 && now.Sub(res.step) >= o.reactionStep:
			phase, res.stop = 2, now
			load.level.Store(0)
			r.logf("reaction: load stopped")
		}
		s, err := getState(r.addr(offReactionAdmin))
		row := reactionRow{t: now, level: int(load.level.Load())}
		if err == nil {
			row.ready = 1 + s.readyMembers()
			row.inflt = float64(s.Inflight + s.Queued)
			if s.Replicas != nil {
				row.running, row.desired = s.Replicas.Running, s.Replicas.Desired
			}
			res.peakRunning = max(res.peakRunning, row.running)
			res.peakDesired = max(res.peakDesired, row.desired)
			for _, d := range s.Decisions {
				if !seen[d.Time] {
					seen[d.Time] = true
					res.decisions = append(res.decisions, d)
				}
			}
			if phase >= 1 && res.firstRunning.IsZero() && row.running > startRunning {
				res.firstRunning = now
			}
			if phase >= 1 && res.firstReady.IsZero() && s.readyMembers() > first.readyMembers() {
				res.firstReady = now
			}
			if phase == 2 && row.running <= res.minRep && row.running > 0 {
				if res.backToMin.IsZero() {
					res.backToMin = now
				}
				if minSince.IsZero() {
					minSince = now
				}
			} else {
				minSince = time.Time{}
			}
		}
		res.rows = append(res.rows, row)
		if phase == 2 && !minSince.IsZero() && now.Sub(minSince) >= o.reactionTail {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	res.end = time.Now()
	stopLoad()
	wg.Wait()
	r.summarise(res, load.done, first.ID)
	return res, nil
}

// summarise fills the events and the per-row load figures.
func (r *runner) summarise(res *reactionResult, done []completion, parentID string) {
	slices.SortFunc(res.decisions, func(a, b decision) int { return a.Time.Compare(b.Time) })
	for _, d := range res.decisions {
		if res.upDecision.IsZero() && !res.step.IsZero() && !d.Time.Before(res.step) && d.Desired > d.Current {
			res.upDecision, res.upDesired = d.Time, d.Desired
		}
		if res.downDecision.IsZero() && !res.stop.IsZero() && !d.Time.Before(res.stop) && d.Desired < d.Current {
			res.downDecision, res.downDesired = d.Time, d.Desired
		}
	}
	slices.SortFunc(done, func(a, b completion) int { return a.t.Compare(b.t) })
	var base, step []int64
	for _, c := range done {
		res.requests++
		if !c.ok {
			res.errors++
			continue
		}
		res.servedBy[c.replica]++
		if c.replica != "" && c.replica != parentID && res.firstServed.IsZero() && !c.t.Before(res.step) {
			res.firstServed = c.t
		}
		switch {
		case c.t.Before(res.step):
			base = append(base, int64(c.lat))
		case res.stop.IsZero() || c.t.Before(res.stop):
			step = append(step, int64(c.lat))
		}
	}
	slices.Sort(base)
	slices.Sort(step)
	res.baseP95 = float64(stats.Percentile(base, 95)) / 1e6
	res.stepP95 = float64(stats.Percentile(step, 95)) / 1e6
	// Trailing one-second window of completions for each row.
	lo := 0
	for i := range res.rows {
		row := &res.rows[i]
		for lo < len(done) && !done[lo].t.After(row.t.Add(-time.Second)) {
			lo++
		}
		var lat []int64
		for j := lo; j < len(done) && !done[j].t.After(row.t); j++ {
			if done[j].ok {
				lat = append(lat, int64(done[j].lat))
			} else {
				row.errors++
			}
		}
		slices.Sort(lat)
		row.rps = float64(len(lat))
		row.p95ms = float64(stats.Percentile(lat, 95)) / 1e6
	}
}
