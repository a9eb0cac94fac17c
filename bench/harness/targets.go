package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Port offsets from -port-base. Every listener of a run is on 127.0.0.1.
const (
	offUpstream = iota
	offLocal
	offLocalAdmin
	offFront
	offFrontAdmin
	offSibling
	offSiblingAdmin
	offNginx
	offHAProxy
	offCaddy
	offProfile
	offProfileAdmin
	offProfileDebug
	offReaction
	offReactionAdmin
	offNginxInner
	offNginxFront
	offHTTPSPlain
	offHTTPSAdmin
	offHTTPSMitosis
	offHTTPSNginx
	portsUsed
)

func (r *runner) addr(off int) string { return fmt.Sprintf("127.0.0.1:%d", r.o.portBase+off) }

// target is one thing the load generators measure.
type target struct {
	name string
	url  string
	// procs are the proxy processes whose CPU and memory are charged to
	// the target (none for direct).
	procs []*proc
	note  string
	// maxIdle caps the memory test's idle connections (0: no cap).
	maxIdle int
	// around, when set, wraps each measurement: the forward path holds its
	// front replica's only slot. It returns a check for the report.
	around func(ctx context.Context, hold time.Duration, measure func() (int64, error)) (string, error)
}

// mitosisEnv is what every benchmarked replica gets: loopback listeners,
// quiet logs, and no drain delay, so that stopping a target between phases
// does not cost the default 2 s (draining is not measured here).
func (r *runner) mitosisEnv(id string, listen, admin int) []string {
	return []string{
		"MITOSIS_LISTEN=" + r.addr(listen),
		"MITOSIS_ADMIN_LISTEN=" + r.addr(admin),
		"MITOSIS_REPLICA_ID=" + id,
		"MITOSIS_LOG_LEVEL=warn",
		"MITOSIS_DRAIN_DELAY=0s",
		"MITOSIS_DRAIN_TIMEOUT=2s",
	}
}

func (r *runner) startMitosis(ctx context.Context, name, bin string, listen, admin int, extra ...string) (*proc, error) {
	env := append(r.mitosisEnv(name, listen, admin), extra...)
	p, err := r.ps.start(name, env, bin)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, p, "http://"+r.addr(admin)+"/readyz", 15*time.Second); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// localEnv is the local path: one replica, one core, scaling off.
func (r *runner) localEnv() []string {
	return []string{"GOMAXPROCS=1", "MITOSIS_UPSTREAM=http://" + r.addr(offUpstream), "MITOSIS_DRIVER=off"}
}

func (r *runner) startLocal(ctx context.Context) (*target, error) {
	p, err := r.startMitosis(ctx, "mitosis-local", r.bin("mitosis"), offLocal, offLocalAdmin, r.localEnv()...)
	if err != nil {
		return nil, err
	}
	return &target{name: "mitosis local", url: "http://" + r.addr(offLocal) + "/", procs: []*proc{p},
		note: "GOMAXPROCS=1, MITOSIS_DRIVER=off"}, nil
}

// startForward starts two replicas that know each other (static
// discovery). The front one has MITOSIS_MAX_INFLIGHT=1; around() parks one
// long /sleep request on that slot, so every measured request finds it
// busy and is forwarded to the sibling, which proxies it to the upstream.
func (r *runner) startForward(ctx context.Context) (*target, error) {
	up := "MITOSIS_UPSTREAM=http://" + r.addr(offUpstream)
	common := []string{"GOMAXPROCS=1", up, "MITOSIS_DRIVER=off", "MITOSIS_DISCOVERY=static"}
	front, err := r.startMitosis(ctx, "mitosis-front", r.bin("mitosis"), offFront, offFrontAdmin,
		append(common, "MITOSIS_MAX_INFLIGHT=1", "MITOSIS_PEERS="+r.addr(offSiblingAdmin))...)
	if err != nil {
		return nil, err
	}
	sib, err := r.startMitosis(ctx, "mitosis-sibling", r.bin("mitosis"), offSibling, offSiblingAdmin,
		append(common, "MITOSIS_PEERS="+r.addr(offFrontAdmin))...)
	if err != nil {
		return nil, err
	}
	t := &target{name: "mitosis forward", url: "http://" + r.addr(offFront) + "/", procs: []*proc{front, sib},
		note: "front (MAX_INFLIGHT=1, slot held) → sibling → upstream; CPU and RSS are both replicas'"}
	t.around = func(ctx context.Context, hold time.Duration, measure func() (int64, error)) (string, error) {
		return r.holdAndMeasure(ctx, hold, measure)
	}
	return t, nil
}

// holdAndMeasure parks a request on the front replica's only slot, checks
// that the front sees it and sees its sibling ready, runs measure, and
// reports which share of the measured requests the front forwarded.
func (r *runner) holdAndMeasure(ctx context.Context, hold time.Duration, measure func() (int64, error)) (string, error) {
	if err := r.waitState(ctx, offFrontAdmin, func(s stateDoc) bool { return s.readyMembers() >= 1 }, 15*time.Second); err != nil {
		return "", fmt.Errorf("front replica never saw its sibling ready: %w", err)
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	held := make(chan error, 1)
	go func() {
		url := fmt.Sprintf("http://%s/sleep?ms=%d", r.addr(offFront), hold.Milliseconds())
		req, _ := http.NewRequestWithContext(hctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		held <- err
	}()
	if err := r.waitState(ctx, offFrontAdmin, func(s stateDoc) bool { return s.Inflight >= 1 }, 5*time.Second); err != nil {
		return "", fmt.Errorf("the hold request never took the front's slot: %w", err)
	}
	before := metricSum(r.addr(offFrontAdmin), `mitosis_forwarded_total{outcome="ok"}`)
	n, err := measure()
	after := metricSum(r.addr(offFrontAdmin), `mitosis_forwarded_total{outcome="ok"}`)
	select {
	case herr := <-held:
		return "", fmt.Errorf("the hold request ended during the measurement (%v): not every request took the forward path", herr)
	default:
	}
	if err != nil {
		return "", err
	}
	if before < 0 || after < 0 || n <= 0 {
		return "forwarded share unknown (no mitosis_forwarded_total)", nil
	}
	// The counter also counts requests still in flight when wrk stopped
	// (wrk counts only answered ones), so the share can pass 100%.
	if share := (after - before) / float64(n); share < 0.99 {
		return fmt.Sprintf("only %.1f%% forwarded", 100*share), nil
	}
	return "every request forwarded", nil
}

// stateDoc is the part of GET /_mitosis/state the harness reads.
type stateDoc struct {
	ID       string `json:"id"`
	Inflight int    `json:"inflight"`
	Queued   int    `json:"queued"`
	Members  []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"members"`
	Replicas *struct {
		Desired int `json:"desired"`
		Running int `json:"running"`
	} `json:"replicas"`
	Decisions []decision `json:"decisions"`
}

type decision struct {
	Time    time.Time `json:"time"`
	Current int       `json:"current"`
	Desired int       `json:"desired"`
	Reason  string    `json:"reason"`
	Acted   bool      `json:"acted"`
	Result  string    `json:"result"`
}

func (s stateDoc) readyMembers() int {
	n := 0
	for _, m := range s.Members {
		if m.State == "ready" && m.ID != s.ID {
			n++
		}
	}
	return n
}

var stateClient = &http.Client{Timeout: 2 * time.Second}

func getState(adminAddr string) (stateDoc, error) {
	var s stateDoc
	resp, err := stateClient.Get("http://" + adminAddr + "/_mitosis/state")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("state: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

func (r *runner) waitState(ctx context.Context, adminOff int, ok func(stateDoc) bool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		s, err := getState(r.addr(adminOff))
		if err == nil && ok(s) {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if last != nil {
		return fmt.Errorf("timeout after %s: %w", timeout, last)
	}
	return fmt.Errorf("timeout after %s", timeout)
}

// metricSum returns the value of the Prometheus sample whose line starts
// with series on the admin /metrics, or -1 if absent.
func metricSum(adminAddr, series string) float64 {
	resp, err := stateClient.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// writeConf writes a proxy's configuration into the run's out directory.
func (r *runner) writeConf(name, text string) (string, error) {
	dir := filepath.Join(r.o.absOut, "conf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, []byte(text), 0o644)
}
