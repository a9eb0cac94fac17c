package balancer

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/pool"
)

// fakeSiblings is a hand-written pool: public fields, recorded calls.
type fakeSiblings struct {
	mu      sync.Mutex
	Members []pool.Member
	Down    []string
	Loads   map[string]pool.Load
	Reads   int // Ready calls
}

func (f *fakeSiblings) Ready() []pool.Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Reads++
	var out []pool.Member
	for _, m := range f.Members {
		if m.State == pool.StateReady {
			out = append(out, m)
		}
	}
	return out
}

// List and Watch make the members' addresses those hops are trusted from.
// Members set after the first hop are not seen: Watch never fires.
func (f *fakeSiblings) List() []pool.Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pool.Member(nil), f.Members...)
}

func (f *fakeSiblings) Watch() <-chan struct{} { return nil }

func (f *fakeSiblings) MarkDown(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Down = append(f.Down, key)
	for i := range f.Members {
		if f.Members[i].Key == key {
			f.Members[i].State = pool.StateDown
		}
	}
}

func (f *fakeSiblings) ApplyLoad(key string, l pool.Load, _ time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Loads == nil {
		f.Loads = map[string]pool.Load{}
	}
	f.Loads[key] = l
	if l.Draining {
		for i := range f.Members {
			if f.Members[i].Key == key {
				f.Members[i].State = pool.StateDraining
			}
		}
	}
}

// sibling is a replica on a real socket: its own Handler in front of app.
type sibling struct {
	h   *Handler
	srv *httptest.Server
}

func startSibling(t *testing.T, id string, maxInflight int, app http.Handler, opts ...Option) sibling {
	t.Helper()
	c := testConfig(maxInflight, 100, 5*time.Second)
	c.ID = id
	h, err := New(c, app, prometheus.NewRegistry(), trustLoopback(opts)...)
	if err != nil {
		t.Fatal(err)
	}
	return startSiblingHandler(t, h)
}

// trustLoopback puts a sibling on 127.0.0.1 in the pool table of a
// replica that has no other (a joining one: never forwarded to), so that
// it trusts the hops the other replicas of a test send from there; a
// WithSiblings in opts replaces it.
func trustLoopback(opts []Option) []Option {
	sender := pool.Member{Key: "sender-admin", ID: "sender", Addr: "127.0.0.1:1", State: pool.StateJoining}
	return append([]Option{WithSiblings(&fakeSiblings{Members: []pool.Member{sender}}, nil)}, opts...)
}

func member(id, addr string, capacity int) pool.Member {
	return pool.Member{Key: id + "-admin", ID: id, Addr: addr, State: pool.StateReady, Capacity: capacity, LatencyEWMA: time.Millisecond}
}

func hostOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// idApp answers with the replica's id after an optional delay.
func idApp(id string, delay time.Duration, count *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if count != nil {
			count.Add(1)
		}
		if delay > 0 {
			time.Sleep(delay) // the app's work: a cost the test sets
		}
		io.WriteString(w, id)
	})
}

func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(ReplicaHeader), string(b)
}

func TestForwardWhenFullAndNeverTwice(t *testing.T) {
	var bCount atomic.Int64
	b := startSibling(t, "b", 4, idApp("b", 0, &bCount))
	g := newGate()
	defer close(g.release)
	sibs := &fakeSiblings{Members: []pool.Member{member("b", hostOf(b.srv), 4)}}
	a := startSibling(t, "a", 1, g, WithSiblings(sibs, nil))

	go http.Get(a.srv.URL) // takes a's only slot
	waitFor(t, func() bool { return g.entered.Load() == 1 })

	code, replica, body := get(t, a.srv.URL)
	if code != 200 || replica != "b" || body != "b" {
		t.Fatalf("overflow answered %d by %q: %q, want 200 from b", code, replica, body)
	}
	if bCount.Load() != 1 {
		t.Fatalf("b served %d", bCount.Load())
	}
	if _, ok := sibs.Loads["b-admin"]; !ok {
		t.Fatal("the load header of b's answer was not learned")
	}
}

func TestHopIsServedLocallyNeverForwarded(t *testing.T) {
	// b is full and has a sibling c with room, but a request that arrives
	// as a hop must stay on b (queue) and never reach c.
	var cCount atomic.Int64
	c := startSibling(t, "c", 4, idApp("c", 0, &cCount))
	g := newGate()
	sibs := &fakeSiblings{Members: []pool.Member{member("c", hostOf(c.srv), 4)}}
	b := startSibling(t, "b", 1, g, WithSiblings(sibs, nil))
	go http.Get(b.srv.URL)
	waitFor(t, func() bool { return g.entered.Load() == 1 })

	done := asyncGet(b.srv.URL, HopHeader, "a")
	waitFor(t, func() bool { return b.h.adm.queued.Load() == 1 })
	close(g.release)
	if code := <-done; code != 200 {
		t.Fatalf("hop got %d", code)
	}
	if cCount.Load() != 0 {
		t.Fatalf("a hop was forwarded again (%d requests reached c)", cCount.Load())
	}
}

func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDeadSiblingRetriedElsewhereAnyMethod(t *testing.T) {
	var bCount atomic.Int64
	b := startSibling(t, "b", 4, idApp("b", 0, &bCount))
	g := newGate()
	defer close(g.release)
	dead := member("dead", deadAddr(t), 4)
	dead.LatencyEWMA = time.Microsecond // cheapest: tried first
	sibs := &fakeSiblings{Members: []pool.Member{dead, member("b", hostOf(b.srv), 4)}}
	a := startSibling(t, "a", 1, g, WithSiblings(sibs, nil))
	go http.Get(a.srv.URL)
	waitFor(t, func() bool { return g.entered.Load() == 1 })

	resp, err := http.Post(a.srv.URL, "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "b" {
		t.Fatalf("POST after a dial error: %d %q, want 200 from b", resp.StatusCode, body)
	}
	if len(sibs.Down) != 1 || sibs.Down[0] != "dead-admin" {
		t.Fatalf("marked down: %v, want [dead-admin]", sibs.Down)
	}
}

func TestDeadSiblingOnlyFallsBackToLocalQueue(t *testing.T) {
	sibs := &fakeSiblings{Members: []pool.Member{member("dead", deadAddr(t), 4)}}
	g := newGate()
	a := startSibling(t, "a", 1, g, WithSiblings(sibs, nil))
	go http.Get(a.srv.URL)
	waitFor(t, func() bool { return g.entered.Load() == 1 })
	done := make(chan string, 1)
	go func() {
		_, replica, _ := get(t, a.srv.URL)
		done <- replica
	}()
	waitFor(t, func() bool { return a.h.adm.queued.Load() == 1 })
	close(g.release)
	if r := <-done; r != "a" {
		t.Fatalf("served by %q, want a (local queue after the dead sibling)", r)
	}
}

// brokenAfterRead reads the request, then drops the connection.
func brokenAfterRead(count *atomic.Int64) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
}

func TestRetryAfterWriteOnlyIdempotent(t *testing.T) {
	var brokenCount, bCount atomic.Int64
	broken := brokenAfterRead(&brokenCount)
	defer broken.Close()
	b := startSibling(t, "b", 4, idApp("b", 0, &bCount))
	bad := member("broken", hostOf(broken), 4)
	bad.LatencyEWMA = time.Microsecond

	tests := []struct {
		method   string
		body     string
		wantCode int
		wantB    int64
	}{
		{"GET", "", 200, 1},          // re-sent to b
		{"POST", "x", 502, 0},        // sent, not idempotent: no retry
		{"PUT", "with body", 502, 0}, // body consumed: cannot be replayed
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			bCount.Store(0)
			brokenCount.Store(0)
			sibs := &fakeSiblings{Members: []pool.Member{bad, member("b", hostOf(b.srv), 4)}}
			g := newGate()
			a := startSibling(t, "a", 1, g, WithSiblings(sibs, nil))
			defer close(g.release)
			go http.Get(a.srv.URL)
			waitFor(t, func() bool { return a.h.adm.inflight.Load() == 1 })
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequest(tt.method, a.srv.URL, body)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode || bCount.Load() != tt.wantB || brokenCount.Load() != 1 {
				t.Fatalf("%s: %d, b served %d, broken saw %d; want %d, %d, 1",
					tt.method, resp.StatusCode, bCount.Load(), brokenCount.Load(), tt.wantCode, tt.wantB)
			}
		})
	}
}

func TestRetryBudget(t *testing.T) {
	f := &forwarder{h: &Handler{cfg: Config{RetryBudget: 0.2}}, budgetCap: 200}
	f.budget.Store(0)
	// 10 forwards earn two retries at 20%.
	for i := 0; i < 10; i++ {
		f.refill()
	}
	for i := 0; i < 2; i++ {
		if !f.takeRetry() {
			t.Fatalf("retry %d refused: a budget of 10 forwards allows 2", i+1)
		}
	}
	if f.takeRetry() {
		t.Fatal("third retry allowed with a 20% budget after 10 forwards")
	}
}

func TestDrainingSiblingLearnedFromHeader(t *testing.T) {
	b := startSibling(t, "b", 4, idApp("b", 0, nil))
	b.h.SetDraining()
	sibs := &fakeSiblings{Members: []pool.Member{member("b", hostOf(b.srv), 4)}}
	g := newGate()
	defer close(g.release)
	a := startSibling(t, "a", 1, g, WithSiblings(sibs, nil))
	go http.Get(a.srv.URL)
	waitFor(t, func() bool { return g.entered.Load() == 1 })
	// b still answers (it drains, it does not refuse), and a learns it.
	if code, r, _ := get(t, a.srv.URL); code != 200 || r != "b" {
		t.Fatalf("got %d from %q", code, r)
	}
	if got := sibs.Ready(); len(got) != 0 {
		t.Fatalf("draining b still ready: %+v", got)
	}
}

func TestDrainingSendsNewWorkToSiblings(t *testing.T) {
	b := startSibling(t, "b", 4, idApp("b", 0, nil))
	sibs := &fakeSiblings{Members: []pool.Member{member("b", hostOf(b.srv), 4)}}
	a := startSibling(t, "a", 4, idApp("a", 0, nil), WithSiblings(sibs, nil))
	if _, r, _ := get(t, a.srv.URL); r != "a" {
		t.Fatalf("before drain served by %q, want a (local first)", r)
	}
	a.h.SetDraining()
	if _, r, _ := get(t, a.srv.URL); r != "b" {
		t.Fatalf("while draining served by %q, want b", r)
	}
}

func TestShareAboveGoesToLessLoadedSibling(t *testing.T) {
	tests := []struct {
		name      string
		bInflight int
		want      string
	}{
		{"idle sibling takes it", 0, "b"},
		{"sibling as loaded stays local", 2, "a"},
		{"busier sibling stays local", 5, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startSibling(t, "b", 8, idApp("b", 0, nil))
			mb := member("b", hostOf(b.srv), 8)
			mb.Inflight = tt.bInflight
			sibs := &fakeSiblings{Members: []pool.Member{mb}}
			g := newGate()
			c := testConfig(8, 10, time.Second)
			c.ID, c.ShareAbove = "a", 2
			h, err := New(c, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/hold" {
					g.ServeHTTP(w, r)
					return
				}
				io.WriteString(w, "a")
			}), prometheus.NewRegistry(), WithSiblings(sibs, nil))
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			defer close(g.release)
			go http.Get(srv.URL + "/hold")
			go http.Get(srv.URL + "/hold")
			waitFor(t, func() bool { return g.entered.Load() == 2 })
			if _, r, _ := get(t, srv.URL); r != tt.want {
				t.Fatalf("at the share (2 in flight) served by %q, want %q", r, tt.want)
			}
		})
	}
}

func TestTryAcquireAndDone(t *testing.T) {
	c := testConfig(3, 0, time.Second)
	c.ShareAbove = 1
	sibs := &fakeSiblings{}
	h, err := New(c, http.NotFoundHandler(), prometheus.NewRegistry(), WithSiblings(sibs, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !h.TryAcquire() {
		t.Fatal("first TryAcquire failed")
	}
	if !h.TryAcquire() {
		t.Fatal("above the share with no sibling to share with, TryAcquire failed")
	}
	sibs.Members = []pool.Member{member("b", "127.0.0.1:1", 4)}
	if h.TryAcquire() {
		t.Fatal("TryAcquire above the share (1) succeeded with a ready sibling")
	}
	now := time.Now()
	h.Done(200, now.Add(-2*time.Millisecond), now.Add(-time.Millisecond), now, false)
	h.Done(200, now.Add(-2*time.Millisecond), now.Add(-time.Millisecond), now, false)
	if h.adm.inflight.Load() != 0 {
		t.Fatal("Done did not free the slot")
	}
	if st := h.Signal().Snapshot(now); st.App.Count != 2 || st.Total.Count != 2 {
		t.Fatalf("Done not recorded: app %d total %d", st.App.Count, st.Total.Count)
	}
	h.SetDraining()
	if h.TryAcquire() {
		t.Fatal("TryAcquire while draining succeeded")
	}
}
