package replica

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/wait"
	"github.com/mitosis-run/mitosis/pool"
)

// near reports whether a and b differ by at most a microsecond: the wire
// carries milliseconds to the microsecond, and the sample weighs p95 by
// the request rate in floating point.
func near(a, b time.Duration) bool { return max(a-b, b-a) <= time.Microsecond }

// waitUntil polls cond every few milliseconds until it holds, or fails
// the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !wait.Until(timeout, 5*time.Millisecond, cond) {
		t.Fatalf("timed out after %s waiting for %s", timeout, what)
	}
}

// The latency SLO reads the autoscale sample's p95, which must be app
// latency for every member (issue 16): a replica whose requests wait long
// for a slot but whose app answers at once reports a small p95 in its own
// row and in the row a sibling makes of it, whatever its queue time.
func TestSampleP95IsAppLatency(t *testing.T) {
	const queued = 39
	entered, release := make(chan struct{}), make(chan struct{})
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(entered)
			<-release // holds the only slot while the others queue
		}
	})
	ca := testConfig("slowqueue")
	ca.Balancer.MaxInflight, ca.Balancer.QueueMax = 1, 100
	a := startTest(t, ca, WithHandler(app))

	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: queued + 1, MaxIdleConnsPerHost: queued + 1}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	get := func(path string) {
		defer wg.Done()
		if resp, err := client.Get("http://" + a.Addr() + path); err != nil {
			t.Error(err)
		} else {
			resp.Body.Close()
		}
	}
	wg.Add(1)
	go get("/hold")
	<-entered
	wg.Add(queued)
	for range queued {
		go get("/fast")
	}
	waitUntil(t, 10*time.Second, "the requests to queue", func() bool {
		return a.h.Signal().Snapshot(time.Now()).Queued == queued
	})
	close(release)
	wg.Wait()

	now := time.Now()
	snap := a.h.Signal().Snapshot(now)
	app95, total95 := snap.App.P95, snap.Total.P95
	if total95 < 4*app95 {
		t.Fatalf("setup: total p95 %s is not well above app p95 %s; the queue did not dominate", total95, app95)
	}
	t.Logf("app p95 %s, total p95 (queue included) %s", app95, total95)

	if got := a.selfMember(now).LatencyP95; !near(got, app95) {
		t.Errorf("own row p95 = %s, want the app's %s (not %s with the queue)", got, app95, total95)
	}
	if got := a.sample(now).P95; !near(got, app95) {
		t.Errorf("own sample p95 = %s, want the app's %s (not %s with the queue)", got, app95, total95)
	}

	// A sibling that polls a: its row of a, and its sample, carry a's app
	// p95 too.
	cb := testConfig("sibling")
	cb.Discovery, cb.Peers = "static", a.AdminAddr()
	cb.Health.Interval, cb.Health.Timeout = 50*time.Millisecond, 25*time.Millisecond
	b := startTest(t, cb, WithHandler(http.NotFoundHandler()))
	var row pool.Member
	waitUntil(t, 10*time.Second, "the sibling to see a ready", func() bool {
		for _, m := range b.store.List() {
			if m.ID == "slowqueue" && m.State == pool.StateReady {
				row = m
				return true
			}
		}
		return false
	})
	if !near(row.LatencyP95, app95) {
		t.Errorf("sibling's row p95 = %s, want a's app p95 %s (not %s with the queue)", row.LatencyP95, app95, total95)
	}
	if got := b.sample(time.Now()).P95; !near(got, app95) {
		t.Errorf("sibling's sample p95 = %s, want a's app p95 %s (b served nothing)", got, app95)
	}
}
