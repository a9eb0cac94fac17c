package balancer

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/pool"
)

// startFront starts a ForwardOnly handler (an entry) over sibs, whose app
// counts the requests that reach it (none should).
func startFront(t *testing.T, sibs *fakeSiblings, app *atomic.Int64) sibling {
	t.Helper()
	c := testConfig(1, 100, 300*time.Millisecond)
	c.ID, c.ForwardOnly = "entry", true
	h, err := New(c, idApp("entry", 0, app), prometheus.NewRegistry(), WithSiblings(sibs, nil))
	if err != nil {
		t.Fatal(err)
	}
	return startSiblingHandler(t, h)
}

// A front serves nothing itself: every request goes to a sibling as a hop
// (the sibling serves it and never forwards it again), a dead one is
// retried elsewhere, a full one still takes (and queues) it, and with no
// sibling at all the answer is 503.
func TestForwardOnly(t *testing.T) {
	var own, bCount atomic.Int64
	b := startSibling(t, "b", 4, idApp("b", 0, &bCount))
	dead := member("dead", deadAddr(t), 4)
	dead.LatencyEWMA = time.Microsecond // the cheapest: tried first
	sibs := &fakeSiblings{Members: []pool.Member{dead, member("b", hostOf(b.srv), 4)}}
	front := startFront(t, sibs, &own)

	for range 5 {
		if code, replica, _ := get(t, front.srv.URL); code != 200 || replica != "b" {
			t.Fatalf("front answered %d by %q, want 200 from b", code, replica)
		}
	}
	if own.Load() != 0 || front.h.Load().Inflight != 0 {
		t.Fatalf("the front's app served %d requests", own.Load())
	}
	if len(sibs.Down) != 1 || sibs.Down[0] != "dead-admin" {
		t.Fatalf("marked down: %v, want the dead sibling", sibs.Down)
	}
	// b served them as hops: its answers carried its load, which the front
	// learned.
	if _, ok := sibs.Loads["b-admin"]; !ok {
		t.Fatal("b's load was not learned from its answers: not served as hops")
	}
	// A client's hop header is not a hop at the front; b gets the front's.
	if code, replica := getWith(t, front.srv.URL, HopHeader, "forged"); code != 200 || replica != "b" {
		t.Fatalf("with a forged hop header: %d by %q", code, replica)
	}

	// c is full (its one slot held): the front still sends it there, where
	// the hop waits in c's queue.
	g := newGate()
	c := startSibling(t, "c", 1, g)
	go http.Get(c.srv.URL)
	waitFor(t, func() bool { return g.entered.Load() == 1 })
	full := member("c", hostOf(c.srv), 1)
	full.Inflight = 1
	front2 := startFront(t, &fakeSiblings{Members: []pool.Member{full}}, &own)
	done := asyncGet(front2.srv.URL)
	waitFor(t, func() bool { return c.h.adm.queued.Load() == 1 })
	close(g.release)
	if code := <-done; code != 200 {
		t.Fatalf("through a full sibling: %d, want 200 once it had room", code)
	}

	// With no sibling the request waits for one, up to QueueTimeout.
	late := &fakeSiblings{}
	waiting := startFront(t, late, &own)
	done = asyncGet(waiting.srv.URL)
	waitFor(t, func() bool { // it looked, found none, and looks again: it waits
		late.mu.Lock()
		defer late.mu.Unlock()
		return late.Reads >= 2
	})
	late.mu.Lock()
	late.Members = []pool.Member{member("b", hostOf(b.srv), 4)}
	late.mu.Unlock()
	if code := <-done; code != 200 {
		t.Fatalf("a sibling appeared while the request waited: %d, want 200", code)
	}
	alone := startFront(t, &fakeSiblings{}, &own)
	start := time.Now()
	if code, _, _ := get(t, alone.srv.URL); code != http.StatusServiceUnavailable {
		t.Fatalf("with no sibling: %d, want 503", code)
	}
	if waited := time.Since(start); waited < alone.h.cfg.QueueTimeout {
		t.Fatalf("503 after %s, before the queue timeout %s", waited, alone.h.cfg.QueueTimeout)
	}
	if own.Load() != 0 {
		t.Fatalf("the front's app served %d requests", own.Load())
	}
	if alone.h.TryAcquire() {
		t.Fatal("TryAcquire took a slot on a front")
	}
}

func startSiblingHandler(t *testing.T, h *Handler) sibling {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return sibling{h: h, srv: srv}
}

// getWith GETs url with one header field set; it returns the status and
// the replica that answered.
func getWith(t *testing.T, url, name, value string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(name, value)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(ReplicaHeader)
}
