package balancer

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/pool"
)

// labeledCounter is the value of name{label=value}.
func labeledCounter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// holdSlot takes one of r's local slots until the test ends.
func holdSlot(t *testing.T, r *fastReplica) {
	t.Helper()
	if !r.h.TryAcquireHop() {
		t.Fatal("no free slot to hold")
	}
	t.Cleanup(func() {
		now := time.Now()
		r.h.Done(200, now, now, now, false)
	})
}

type answer struct {
	code          int
	replica, body string
	load          string
}

// do sends one request on a fresh connection.
func do(t *testing.T, method, url, body string) answer {
	t.Helper()
	a, err := tryDo(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tryDo is do for other goroutines than the test's (no t.Fatal there).
func tryDo(method, url, body string) (answer, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return answer{resp.StatusCode, resp.Header.Get(ReplicaHeader), string(b), resp.Header.Get(pool.LoadHeader)}, nil
}

// echoBodyApp answers "<id> <method> <body> <X-Forwarded-For> <hop>".
func echoBodyApp(id string, count *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, id+" "+r.Method+" "+string(b)+" "+r.Header.Get("X-Forwarded-For")+" "+r.Header.Get(HopHeader))
	})
}

// TestFastForward: a replica whose slot is taken forwards on the fast path
// to a sibling (whose own fast path serves the hop), learns the sibling's
// load from the answer and keeps it from the client.
func TestFastForward(t *testing.T) {
	var bCount atomic.Int64
	bApp := newUpstreamCount(t, echoBodyApp("b", &bCount))
	cfgB := testConfig(4, 10, time.Second)
	cfgB.ID, cfgB.ClusterToken = "b", "tok"
	b := startFast(t, cfgB, bApp)
	sibs := &fakeSiblings{Members: []pool.Member{member("b", b.addr, 4)}}
	cfgA := testConfig(1, 10, time.Second)
	cfgA.ID, cfgA.ClusterToken = "a", "tok"
	a := startFast(t, cfgA, hostOf(echoApp(t, nil, 0)), WithSiblings(sibs, nil))
	holdSlot(t, a)

	for _, tt := range []struct{ method, body string }{{"GET", ""}, {"POST", "payload"}} {
		got := do(t, tt.method, "http://"+a.addr+"/", tt.body)
		want := "b " + tt.method + " " + tt.body + " 127.0.0.1 " // b's app sees a's X-Forwarded-For, no hop field
		if got.code != 200 || got.replica != "b" || got.body != want {
			t.Fatalf("%s: %+v, want 200 from b %q", tt.method, got, want)
		}
		if got.load != "" {
			t.Errorf("the client got the sibling's load %q", got.load)
		}
	}
	if a.fallback.Load() != 0 || b.fallback.Load() != 0 {
		t.Errorf("net/http served %d on a, %d on b; want the fast path on both", a.fallback.Load(), b.fallback.Load())
	}
	sibs.mu.Lock()
	l, ok := sibs.Loads["b-admin"]
	sibs.mu.Unlock()
	if !ok || l.Capacity != 4 {
		t.Errorf("a learned %+v (%v) of b, want capacity 4", l, ok)
	}
	if v, _ := a.h.fw.peers.Load("b-admin"); v == nil || v.(*peer).outstanding.Load() != 0 {
		t.Error("the forwards are still counted outstanding")
	}
	if n := labeledCounter(t, a.reg, "mitosis_forwarded_total", "outcome", "ok"); n != 2 {
		t.Errorf("forwarded ok = %v, want 2", n)
	}
	fa, fb := a.h.ForwardedCount(), b.h.ForwardedCount()
	if fa != 2 || fb != 0 {
		t.Errorf("ForwardedCount() = %d on a, %d on b; want 2 and 0", fa, fb)
	}
}

// TestFastForwardDialError: a sibling that cannot be reached is marked
// down and the request, whatever its method, goes to another sibling, or
// is served locally when none is left.
func TestFastForwardDialError(t *testing.T) {
	var bCount atomic.Int64
	b := startSibling(t, "b", 4, echoBodyApp("b", &bCount))
	tests := []struct {
		name    string
		members func(dead pool.Member) []pool.Member
		replica string
	}{
		{"other sibling", func(dead pool.Member) []pool.Member { return []pool.Member{dead, member("b", hostOf(b.srv), 4)} }, "b"},
		{"local when none left", func(dead pool.Member) []pool.Member { return []pool.Member{dead} }, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dead := member("dead", deadAddr(t), 4)
			dead.LatencyEWMA = time.Microsecond // cheapest: tried first
			sibs := &fakeSiblings{Members: tt.members(dead)}
			cfg := testConfig(2, 10, time.Second)
			cfg.ID, cfg.ShareAbove = "a", 1
			a := startFast(t, cfg, hostOf(echoApp(t, nil, 0)), WithSiblings(sibs, nil))
			holdSlot(t, a) // at its share: new work goes to a sibling
			got := do(t, "POST", "http://"+a.addr+"/", "payload")
			if got.code != 200 || got.replica != tt.replica {
				t.Fatalf("%+v, want 200 from %s", got, tt.replica)
			}
			sibs.mu.Lock()
			down := append([]string(nil), sibs.Down...)
			sibs.mu.Unlock()
			if len(down) != 1 || down[0] != "dead-admin" {
				t.Errorf("marked down: %v, want [dead-admin]", down)
			}
			if n := labeledCounter(t, a.reg, "mitosis_retries_total", "reason", "dial"); n != 1 {
				t.Errorf("dial retries = %v, want 1", n)
			}
			if a.fallback.Load() != 0 {
				t.Errorf("net/http served %d, want the fast path", a.fallback.Load())
			}
		})
	}
}

// TestFastForwardAfterWrite: a sibling that drops the connection after
// reading the request: GET is retried on another sibling, POST and a body
// are not (502).
func TestFastForwardAfterWrite(t *testing.T) {
	var brokenCount, bCount atomic.Int64
	broken := brokenAfterRead(&brokenCount)
	defer broken.Close()
	b := startSibling(t, "b", 4, echoBodyApp("b", &bCount))
	bad := member("broken", hostOf(broken), 4)
	bad.LatencyEWMA = time.Microsecond
	tests := []struct {
		method, body string
		wantCode     int
		wantB        int64
	}{
		{"GET", "", 200, 1},
		{"POST", "", 502, 0},
		{"PUT", "with body", 502, 0},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			bCount.Store(0)
			brokenCount.Store(0)
			sibs := &fakeSiblings{Members: []pool.Member{bad, member("b", hostOf(b.srv), 4)}}
			cfg := testConfig(1, 10, time.Second)
			cfg.ID = "a"
			a := startFast(t, cfg, hostOf(echoApp(t, nil, 0)), WithSiblings(sibs, nil))
			holdSlot(t, a)
			got := do(t, tt.method, "http://"+a.addr+"/", tt.body)
			if got.code != tt.wantCode || bCount.Load() != tt.wantB || brokenCount.Load() != 1 {
				t.Fatalf("%s: %d, b served %d, broken saw %d; want %d, %d, 1",
					tt.method, got.code, bCount.Load(), brokenCount.Load(), tt.wantCode, tt.wantB)
			}
			if a.fallback.Load() != 0 {
				t.Errorf("net/http served %d, want the fast path", a.fallback.Load())
			}
		})
	}
}

// TestFastForwardNoHopLoop: a hop reaching a full sibling waits there (in
// the fallback's queue) and never goes on to a third replica.
func TestFastForwardNoHopLoop(t *testing.T) {
	var cCount atomic.Int64
	c := startSibling(t, "c", 4, echoBodyApp("c", &cCount))
	cfgB := testConfig(1, 10, 5*time.Second)
	cfgB.ID = "b"
	b := startFast(t, cfgB, hostOf(echoApp(t, nil, 0)), WithSiblings(&fakeSiblings{Members: []pool.Member{member("c", hostOf(c.srv), 4)}}, nil))
	cfgA := testConfig(1, 10, 5*time.Second)
	cfgA.ID = "a"
	a := startFast(t, cfgA, hostOf(echoApp(t, nil, 0)), WithSiblings(&fakeSiblings{Members: []pool.Member{member("b", b.addr, 4)}}, nil))
	holdSlot(t, a)
	if !b.h.TryAcquireHop() {
		t.Fatal("no slot on b")
	}
	done := make(chan answer, 1)
	go func() {
		got, err := tryDo("GET", "http://"+a.addr+"/", "")
		if err != nil {
			got.body = err.Error()
		}
		done <- got
	}()
	waitFor(t, func() bool { return b.h.adm.queued.Load() == 1 })
	now := time.Now()
	b.h.Done(200, now, now, now, false)
	if got := <-done; got.code != 200 || got.replica != "b" {
		t.Fatalf("%+v, want 200 from b", got)
	}
	if cCount.Load() != 0 {
		t.Fatalf("the hop went on to c (%d requests)", cCount.Load())
	}
}

// TestFastForwardSkipsDrainingSibling: a sibling that says it drains (in
// its load header) gets no more work.
func TestFastForwardSkipsDrainingSibling(t *testing.T) {
	var bCount atomic.Int64
	cfgB := testConfig(4, 10, time.Second)
	cfgB.ID = "b"
	b := startFast(t, cfgB, newUpstreamCount(t, echoBodyApp("b", &bCount)))
	b.h.SetDraining()
	sibs := &fakeSiblings{Members: []pool.Member{member("b", b.addr, 4)}}
	cfg := testConfig(2, 10, time.Second)
	cfg.ID, cfg.ShareAbove = "a", 1
	a := startFast(t, cfg, hostOf(echoApp(t, nil, 0)), WithSiblings(sibs, nil))
	holdSlot(t, a)
	if got := do(t, "GET", "http://"+a.addr+"/", ""); got.replica != "b" {
		t.Fatalf("first request answered by %q, want b (a draining sibling still serves hops)", got.replica)
	}
	if got := do(t, "GET", "http://"+a.addr+"/", ""); got.code != 200 || got.replica != "a" {
		t.Fatalf("second request: %+v, want 200 from a: b said it drains", got)
	}
	if bCount.Load() != 1 {
		t.Fatalf("b served %d, want 1", bCount.Load())
	}
}
