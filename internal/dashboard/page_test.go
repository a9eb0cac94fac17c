package dashboard

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/internal/browsertest"
	"github.com/mitosis-run/mitosis/pool"
)

// scenario is a synthetic tier: 10 minutes at 2 s ticks of a load step
// that scales 1 → 4 replicas, then back to 2.
type scenario struct {
	start time.Time
	ds    []autoscale.Decision
}

func (s *scenario) replicas(i int) (desired, running int) {
	switch {
	case i < 60:
		return 1, 1
	case i < 62:
		return 4, 1 + (i - 60)
	case i < 200:
		return 4, 4
	default:
		return 2, 2
	}
}

func (s *scenario) frame(i int) Frame {
	now := s.start.Add(time.Duration(i) * 2 * time.Second)
	desired, running := s.replicas(i)
	load := 40.0
	if i >= 55 && i < 190 {
		load = 380 + 20*math.Sin(float64(i)/5)
	}
	f := Frame{Time: now, Desired: desired, Running: running, Pending: desired - running, Self: "127.0.0.1:9090", Leader: true}
	for r := range running {
		key := fmt.Sprintf("127.0.0.1:%d", 9090+r)
		q := 0
		if i >= 55 && i < 64 {
			q = 12 - r
		}
		f.Members = append(f.Members, pool.Member{
			Key: key, ID: fmt.Sprintf("web-%d", r+1), Addr: fmt.Sprintf("127.0.0.1:%d", 8080+r), AdminAddr: key,
			State: pool.StateReady, RPS: load / float64(running), Inflight: int(load/float64(running)/10) + 1, Capacity: 100, Queued: q,
			LatencyP50: time.Duration(90+5*q) * time.Millisecond, LatencyP95: time.Duration(100+10*q) * time.Millisecond,
			Shed: uint64(min(max(i-56, 0), 6) * 3), Forwarded: uint64(i * int(load) / 40 * r),
		})
	}
	dec := autoscale.Decision{Time: now, Current: desired, Desired: desired, Result: autoscale.ResultNoChange,
		Reason: fmt.Sprintf("stable %.1f / 7 → %d", load/10, desired)}
	switch i {
	case 60:
		dec = autoscale.Decision{Time: now, Current: 1, Desired: 4, Result: autoscale.ResultOK, Acted: true, Panic: true,
			Reason: "panic: burst 38.0 / 7 → 6 ≥ 2 × 1; up to 4 (max step)"}
	case 200:
		dec = autoscale.Decision{Time: now, Current: 4, Desired: 2, Result: autoscale.ResultOK, Acted: true,
			Reason: "stable 4.1 / 7 → 1, highest over the scale-down delay 2; halving at most"}
	}
	s.ds = append(s.ds, dec)
	return f
}

// TestPageInBrowser loads the page in headless Chromium on a synthetic
// history: no console error, every chart drawn, the legend's last values
// right, the scale changes highlighted with their reasons and the steady
// ticks folded. It saves .ci/artifacts/dashboard-synthetic.png.
func TestPageInBrowser(t *testing.T) {
	page := browsertest.Open(t, 1400, 1000)
	s := &scenario{start: time.Now().Add(-10 * time.Minute)}
	const ticks = 300
	var i int
	d := New(Config{ID: "web-1", Version: "v0.0.0-test", Driver: "process", Tick: 2 * time.Second},
		func(time.Time) Frame { return s.frame(i) },
		func() []autoscale.Decision { return s.ds[max(len(s.ds)-autoscale.HistorySize, 0):] },
		func() time.Time { return s.start.Add(time.Duration(i) * 2 * time.Second) })
	for i = 0; i < ticks; i++ {
		d.Step(s.start.Add(time.Duration(i) * 2 * time.Second))
	}
	i = ticks - 1
	mux := http.NewServeMux()
	d.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	if err := page.Do(30*time.Second, chromedp.Navigate(srv.URL+"/_mitosis/"),
		chromedp.WaitVisible(chromedp.CSS(`#decisions li.up`))); err != nil {
		t.Fatalf("page did not show a scale-up: %v\nconsole: %s", err, strings.Join(page.Messages(), "\n"))
	}
	last, err := browsertest.Eval[map[string]float64](page, 5*time.Second, `JSON.parse(document.querySelector('#chart-replicas').dataset.last)`)
	if err != nil {
		t.Fatal(err)
	}
	if last["desired"] != 2 || last["running"] != 2 || last["pending"] != 0 {
		t.Errorf("replica chart's last values %v, want desired 2, running 2, pending 0", last)
	}
	paths, err := browsertest.Eval[int](page, 5*time.Second, `document.querySelectorAll('.chart path.ln').length`)
	if err != nil || paths != 10 {
		t.Errorf("%d series drawn (%v), want 10", paths, err)
	}
	texts, err := browsertest.Eval[[]string](page, 5*time.Second, `[...document.querySelectorAll('#decisions li')].map(li => li.className + ': ' + li.textContent)`)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(texts, "\n")
	for _, want := range []string{"up: ", "1 → 4", "panic: burst 38.0", "down: ", "4 → 2", "halving at most", "steady ticks"} {
		if !strings.Contains(joined, want) {
			t.Errorf("decisions lack %q:\n%s", want, joined)
		}
	}
	if !strings.HasPrefix(texts[0], "steady") || !strings.HasPrefix(texts[1], "down") {
		t.Errorf("decisions not newest first:\n%s", joined)
	}
	rows, err := browsertest.Eval[int](page, 5*time.Second, `document.querySelectorAll('#replicas tbody tr').length`)
	if err != nil || rows != 2 {
		t.Errorf("replica table has %d rows (%v), want 2", rows, err)
	}
	if err := page.Screenshot(browsertest.ArtifactPath(t, "dashboard-synthetic.png")); err != nil {
		t.Error(err)
	}
	if errs := page.Errors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
