package integration

import (
	"sync"
	"testing"
	"time"
)

// TestOverloadSheds: far more clients than slots and queue places. Every
// request gets either its answer or a quick 503 with Retry-After, and the
// shed counter agrees with what the clients saw.
func TestOverloadSheds(t *testing.T) {
	integration(t)
	p := startReady(t, "ovl", []string{
		"MITOSIS_MAX_INFLIGHT=8",
		"MITOSIS_QUEUE_MAX=16",
		"MITOSIS_QUEUE_TIMEOUT=100ms",
	})
	c := loadClient(t)

	const clients, perClient = 200, 3
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := 0; j < perClient; j++ {
				r := doGet(c, p.pubURL("/work?ms=200"), nil, 10*time.Second)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)

	var ok, shed int
	for _, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("request failed: %v", r.err)
		case r.code == 200:
			ok++
			if r.body != "worked 200ms on ovl\n" {
				t.Errorf("200 with body %q", r.body)
			}
		case r.code == 503:
			shed++
			if r.retryAfter == "" {
				t.Errorf("503 without Retry-After: %q", r.body)
			}
			// A shed request waited at most the queue timeout, well
			// under one app request (200ms).
			if d := r.end.Sub(r.start); d > 2*time.Second {
				t.Errorf("503 took %s: shedding must be quick", d)
			}
		default:
			t.Errorf("unexpected status %d: %q", r.code, r.body)
		}
	}
	t.Logf("%d requests in %s: %d served, %d shed", len(results), elapsed, ok, shed)
	if ok < 8 || shed == 0 {
		t.Fatalf("%d served, %d shed: want at least 8 served and some shed", ok, shed)
	}
	// At most 8 requests are inside the app at once for 200ms each: the
	// served count is bounded by the elapsed time.
	if maxOK := int(elapsed/(200*time.Millisecond)+1) * 8; ok > maxOK {
		t.Errorf("%d served in %s: more than 8 at a time (max %d)", ok, elapsed, maxOK)
	}
	m, err := p.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if got := m["mitosis_shed_total"]; int(got) != shed {
		t.Errorf("mitosis_shed_total = %v, clients saw %d 503s", got, shed)
	}
	if got := m[`mitosis_request_duration_seconds_count{code="5xx"}`]; int(got) != shed {
		t.Errorf("5xx count = %v, clients saw %d 503s", got, shed)
	}
	if got := m[`mitosis_request_duration_seconds_count{code="2xx"}`]; int(got) != ok {
		t.Errorf("2xx count = %v, clients saw %d 200s", got, ok)
	}
	if m["mitosis_inflight"] != 0 || m["mitosis_queue_depth"] != 0 {
		t.Errorf("after the load: inflight %v, queue depth %v; want 0 and 0", m["mitosis_inflight"], m["mitosis_queue_depth"])
	}
}
