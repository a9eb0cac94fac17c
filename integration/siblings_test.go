package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

// siblingEnv is the configuration of the sibling tests: small capacity so
// overflow is forwarded, fast polling so the pool settles in a fraction of
// a second.
//
// MITOSIS_HEALTH_TIMEOUT must be set too: its default (500ms) exceeds the
// 200ms interval and Validate refuses it (see TestShortSyncIntervalAlone).
var siblingEnv = []string{
	"MITOSIS_DISCOVERY=static",
	"MITOSIS_MAX_INFLIGHT=4",
	"MITOSIS_SYNC_INTERVAL=200ms",
	"MITOSIS_HEALTH_TIMEOUT=150ms",
	"MITOSIS_DRAIN_DELAY=500ms",
	"MITOSIS_DRAIN_TIMEOUT=4s",
}

// startCluster starts one replica per name, each with the others' admin
// addresses as static peers, and waits until every replica sees every
// other one as ready. extra[name] adds settings for one replica.
func startCluster(t *testing.T, names []string, common []string, extra map[string][]string) []*proc {
	t.Helper()
	ps := make([]*proc, len(names))
	for i, n := range names {
		ps[i] = newProc(t, n)
	}
	for i, p := range ps {
		var peers []string
		for j, q := range ps {
			if j != i {
				peers = append(peers, q.admin)
			}
		}
		env := append(append(append([]string{}, siblingEnv...), common...), "MITOSIS_PEERS="+strings.Join(peers, ","))
		p.start(append(env, extra[p.name]...))
	}
	for _, p := range ps {
		p.waitReady(10 * time.Second)
	}
	for _, p := range ps {
		var others []string
		for _, q := range ps {
			if q != p {
				others = append(others, q.name)
			}
		}
		waitFor(t, 5*time.Second, p.name+" to see "+strings.Join(others, ", ")+" ready", func() bool {
			return seesReady(p, others...)
		})
	}
	return ps
}

// seesReady reports whether p's state lists every named sibling as ready.
func seesReady(p *proc, names ...string) bool {
	s, err := p.state(nil)
	if err != nil {
		return false
	}
	for _, n := range names {
		if memberState(s, n) != pool.StateReady {
			return false
		}
	}
	return true
}

func memberState(s stateDocJSON, id string) pool.MemberState {
	for _, m := range s.Members {
		if m.ID == id {
			return m.State
		}
	}
	return ""
}

// tally counts results by replica and reports every failure.
func tally(t *testing.T, rs []result) map[string]int {
	t.Helper()
	by := map[string]int{}
	var bad []string
	for _, r := range rs {
		switch {
		case r.err != nil:
			bad = append(bad, r.err.Error())
		case r.code < 200 || r.code > 299:
			bad = append(bad, fmt.Sprintf("status %d from %q: %q", r.code, r.replica, r.body))
		default:
			by[r.replica]++
		}
	}
	if len(bad) > 0 {
		if len(bad) > 10 {
			bad = append(bad[:10], fmt.Sprintf("... and %d more", len(bad)-10))
		}
		t.Errorf("%d of %d requests failed:\n%s", len(bad), len(rs), strings.Join(bad, "\n"))
	}
	return by
}

// TestSiblingsShareLoad is the "Done when", scaled down: clients
// call one replica, the overflow goes to its two siblings, and nothing
// fails — not even when a sibling is killed in the middle.
func TestSiblingsShareLoad(t *testing.T) {
	integration(t)
	ps := startCluster(t, []string{"a", "b", "c"}, nil, nil)
	a, b, c := ps[0], ps[1], ps[2]
	client := loadClient(t)
	work := func(int, int) string { return a.pubURL("/work?ms=50") }

	t.Run("share", func(t *testing.T) {
		rs := runLoad(client, 48, 3*time.Second, nil, work)
		by := tally(t, rs)
		t.Logf("%d requests: %v", len(rs), by)
		if by["a"] == 0 {
			t.Error("a served nothing itself")
		}
		// Ideal: a third each (4 slots per replica); the issue asks for at
		// least 25% on each sibling.
		for _, n := range []string{"b", "c"} {
			if share := float64(by[n]) / float64(len(rs)); share < 0.25 {
				t.Errorf("%s served %d of %d (%.0f%%), want at least 25%%", n, by[n], len(rs), 100*share)
			}
		}
	})

	t.Run("sibling killed", func(t *testing.T) {
		if !seesReady(a, "b", "c") {
			t.Fatal("a does not see b and c ready before the run")
		}
		stop := time.AfterFunc(time.Second, func() { _ = c.cmd.Process.Signal(syscall.SIGKILL) })
		defer stop.Stop()
		rs := runLoad(client, 48, 3*time.Second, nil, work)
		by := tally(t, rs)
		t.Logf("%d requests: %v", len(rs), by)
		if !c.exited() {
			t.Fatal("c was not killed during the run")
		}
		if by["c"] == 0 {
			t.Error("c served nothing before it was killed: the run did not test forwarding to it")
		}
		if by["b"] == 0 {
			t.Error("b served nothing")
		}
		s, err := a.state(nil)
		if err != nil {
			t.Fatal(err)
		}
		if st := memberState(s, "c"); st == pool.StateReady {
			t.Errorf("a still lists the killed c as %s", st)
		}
	})
	_ = b
}

// TestSiblingsHopOnce: two replicas that list each other, both overloaded,
// both forwarding to the other. A forwarded request is never forwarded
// again, and every request reaches the app exactly once.
func TestSiblingsHopOnce(t *testing.T) {
	integration(t)
	app := newCountingApp(t)
	ps := startCluster(t, []string{"x", "y"}, []string{"MITOSIS_UPSTREAM=" + app.srv.URL}, nil)
	x, y := ps[0], ps[1]
	client := loadClient(t)

	const workers = 24 // per replica
	rs := runLoad(client, 2*workers, 2*time.Second, nil, func(w, i int) string {
		target := x
		if w >= workers {
			target = y
		}
		return target.pubURL(fmt.Sprintf("/work?ms=40&id=%d-%d", w, i))
	})
	by := tally(t, rs)
	t.Logf("%d requests: %v", len(rs), by)

	app.mu.Lock()
	defer app.mu.Unlock()
	seen := app.seen
	total := 0
	for _, n := range seen {
		total += n
	}
	if total != len(rs) {
		t.Errorf("the app served %d requests, clients sent %d", total, len(rs))
	}
	for _, r := range rs {
		if r.err != nil {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(r.body, "id="), "\n")
		if seen[id] != 1 {
			t.Errorf("request %s reached the app %d times, want exactly once", id, seen[id])
		}
	}
	// Both directions were used, so a hop could have looped back.
	for _, p := range ps {
		m, err := p.metrics()
		if err != nil {
			t.Fatal(err)
		}
		if fwd := m[`mitosis_forwarded_total{outcome="ok"}`]; fwd == 0 {
			t.Errorf("%s forwarded nothing: the test did not exercise hops", p.name)
		}
	}
	if by["x"] == 0 || by["y"] == 0 {
		t.Errorf("served by %v: want both", by)
	}
	if len(app.leaked) > 0 {
		t.Errorf("the app saw cluster headers: %q", app.leaked)
	}
}

// countingApp is an upstream app that counts requests by their id query
// parameter, waits ms milliseconds, and notes any cluster-internal header
// that reached it (the balancer must strip them).
type countingApp struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   map[string]int
	leaked []string
}

func newCountingApp(t *testing.T) *countingApp {
	a := &countingApp{seen: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		a.mu.Lock()
		a.seen[id]++
		for _, h := range []string{"X-Mitosis-Hop", "X-Mitosis-Token"} {
			if v := r.Header.Get(h); v != "" {
				a.leaked = append(a.leaked, h+": "+v)
			}
		}
		a.mu.Unlock()
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond) // the app's work: a request that takes ms
		fmt.Fprintf(w, "id=%s\n", id)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// TestSiblingsWithClusterToken: with MITOSIS_CLUSTER_TOKEN the siblings
// still find each other (their polls carry the token) and share load, and
// a client that forges the hop header gains nothing: it is not trusted, and
// neither header reaches the app.
func TestSiblingsWithClusterToken(t *testing.T) {
	integration(t)
	app := newCountingApp(t)
	ps := startCluster(t, []string{"t1", "t2"}, []string{"MITOSIS_UPSTREAM=" + app.srv.URL, "MITOSIS_CLUSTER_TOKEN=sesame"}, nil)
	t1 := ps[0]
	client := loadClient(t)
	forged := map[string]string{"X-Mitosis-Hop": "mallory", "X-Mitosis-Token": "guess"}
	var mu sync.Mutex
	var rs []result
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				r := doGet(client, t1.pubURL(fmt.Sprintf("/work?ms=50&id=%d-%d", w, i)), forged, 10*time.Second)
				mu.Lock()
				rs = append(rs, r)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	by := tally(t, rs)
	t.Logf("%d requests: %v", len(rs), by)
	// A trusted hop is never forwarded; these forged ones must be, since
	// t1 has 4 slots for 16 clients.
	if by["t2"] == 0 {
		t.Errorf("t2 served nothing: the forged hop header was trusted (or forwarding failed)")
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if len(app.leaked) > 0 {
		t.Errorf("the app saw cluster headers: %q", app.leaked[:min(len(app.leaked), 5)])
	}
}

// TestSiblingDrainingGetsNoForwards: once a replica reports that it drains,
// its siblings forward nothing more to it, and clients see no failure.
func TestSiblingDrainingGetsNoForwards(t *testing.T) {
	integration(t)
	ps := startCluster(t, []string{"d", "e", "f"}, nil, map[string][]string{
		"e": {"MITOSIS_DRAIN_DELAY=2s", "MITOSIS_DRAIN_TIMEOUT=4s"},
	})
	d, e := ps[0], ps[1]
	client := loadClient(t)

	var sawDraining time.Time // when d's state first listed e as draining
	done := make(chan struct{})
	go func() {
		defer close(done)
		// SIGTERM once d forwards work to e: e's app has served requests.
		if !poll(3*time.Second, func() bool {
			m, err := e.metrics()
			return err == nil && m[`mitosis_request_duration_seconds_count{code="2xx"}`] >= 10
		}) {
			return // e got no work: the check on "before" below fails
		}
		e.signal(syscall.SIGTERM)
		poll(2*time.Second, func() bool {
			if s, err := d.state(nil); err == nil {
				if st := memberState(s, "e"); st != pool.StateReady && st != "" {
					sawDraining = time.Now()
					return true
				}
			}
			return false
		})
	}()
	rs := runLoad(client, 48, 3500*time.Millisecond, nil, func(int, int) string { return d.pubURL("/work?ms=50") })
	<-done
	by := tally(t, rs)
	t.Logf("%d requests: %v", len(rs), by)
	if sawDraining.IsZero() {
		t.Fatal("d never listed e as draining")
	}
	var before, after int
	for _, r := range rs {
		if r.err != nil || r.replica != "e" {
			continue
		}
		if r.start.After(sawDraining) {
			after++
		} else {
			before++
		}
	}
	if before == 0 {
		t.Error("e served nothing before it drained: the test did not exercise forwarding to it")
	}
	if after > 0 {
		t.Errorf("e served %d requests sent after d listed it as draining, want 0", after)
	}
	if status := e.waitExit(5 * time.Second); status != 0 {
		t.Errorf("e exited %d, want 0", status)
	}
}
