package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mitosis-run/mitosis/internal/browsertest"
)

// replicaValues is the replica chart's newest point, as the page shows it.
type replicaValues struct {
	Desired, Running, Pending float64
}

func chartLast(page *browsertest.Page) (replicaValues, error) {
	return browsertest.Eval[replicaValues](page, 5*time.Second,
		`(() => { const v = document.querySelector('#chart-replicas').dataset.last;
		  return v ? JSON.parse(v) : {desired: 0, running: 0, pending: 0}; })()`)
}

// TestDashboardInBrowser: the live page in headless Chromium against a
// mitosis that scales (process driver, short windows) under a load step.
// The page loads through the token exchange with no console error; during
// the step the replica chart's last value rises and a scale-up with its
// reason appears; after it the value falls again; a tab open on a child
// that gets retired says so and links to a sibling. The screenshot taken
// mid-scale goes to .ci/artifacts/dashboard.png. Without chromium it skips
// (fails under CI=true).
func TestDashboardInBrowser(t *testing.T) {
	integration(t)
	page := browsertest.Open(t, 1400, 1000)
	var kids pidSet
	t.Cleanup(kids.killAll)
	start := time.Now()
	const token = "browser-test-token"
	p := startReady(t, "browser-root", []string{
		"MITOSIS_DRIVER=process", "MITOSIS_CLUSTER_TOKEN=" + token,
		"MITOSIS_TICK=1s", "MITOSIS_SYNC_INTERVAL=500ms",
		"MITOSIS_STABLE_WINDOW=8s", "MITOSIS_PANIC_WINDOW=2s", "MITOSIS_SCALE_DOWN_DELAY=6s",
		"MITOSIS_TARGET_CONCURRENCY=4", "MITOSIS_MAX_INFLIGHT=8", "MITOSIS_MAX_REPLICAS=4",
		"MITOSIS_DRAIN_DELAY=500ms", "MITOSIS_DRAIN_TIMEOUT=5s",
	})
	ppid := p.cmd.Process.Pid

	// The token in the URL becomes a cookie and leaves the address bar.
	if err := page.Do(30*time.Second, chromedp.Navigate(p.adminURL("/_mitosis/?token="+token)),
		chromedp.WaitVisible(chromedp.CSS(`#chart-replicas svg path.ln`))); err != nil {
		t.Fatalf("page: %v\n%s", err, strings.Join(page.Messages(), "\n"))
	}
	if loc, err := browsertest.Eval[string](page, 5*time.Second, `location.pathname + location.search`); err != nil || loc != "/_mitosis/" {
		t.Errorf("address after sign-in %q (%v), want /_mitosis/ without the token", loc, err)
	}
	waitFor(t, 5*time.Second, "the chart to show 1 running before the step", func() bool {
		v, err := chartLast(page)
		return err == nil && v.Running == 1 && v.Desired == 1
	})
	// A baseline of a few ticks before the step, for the picture.
	waitFor(t, 15*time.Second, "6 ticks of history", func() bool { return len(viewPoints(t, p, token)) >= 6 })

	// The step: 24 clients of a 100 ms page, 6× one replica's target.
	stop := make(chan struct{})
	done := make(chan []result, 1)
	go func() {
		done <- runLoad(loadClient(t), 24, 60*time.Second, stop, func(int, int) string { return p.pubURL("/work?ms=100") })
	}()
	stopLoad := func() []result {
		if stop != nil {
			close(stop)
			stop = nil
		}
		return <-done
	}
	defer func() {
		if stop != nil {
			stopLoad()
		}
	}()
	var peak replicaValues
	waitFor(t, 30*time.Second, "the replica chart to show 3 running", func() bool {
		kids.sample(ppid)
		v, err := chartLast(page)
		peak = v
		return err == nil && v.Running >= 3
	})
	t.Logf("%s after start: the chart shows %+v", time.Since(start).Round(time.Second), peak)
	// The tier's rate is the sum over the replicas: well above the rate of
	// the replica serving the page, once the children take their share.
	var rates struct{ Tier, Self float64 }
	waitFor(t, 20*time.Second, "the page's tier rate to exceed 1.5× its own replica's", func() bool {
		r, err := browsertest.Eval[struct{ Tier, Self float64 }](page, 5*time.Second,
			`({tier: parseFloat(document.querySelector('#chart-rps [data-key=rps]').textContent),
			   self: parseFloat(document.querySelector('#replicas tr.self td:nth-child(4)').textContent)})`)
		rates = r
		return err == nil && r.Tier > 50 && r.Tier > 1.5*r.Self
	})
	t.Logf("tier %.1f req/s, the page's own replica %.1f req/s", rates.Tier, rates.Self)
	// A few ticks at the new size, for the picture.
	waitFor(t, 20*time.Second, "8 ticks with 3 or more running", func() bool {
		n := 0
		for _, pt := range viewPoints(t, p, token) {
			if pt.Running >= 3 {
				n++
			}
		}
		return n >= 8
	})

	// A tab on a child, which the scale-down will retire. Same host: the
	// sign-in cookie applies to its port too.
	child := childAdmin(t, p, token)
	tab := page.NewTab(t)
	if err := tab.Do(30*time.Second, chromedp.Navigate("http://"+child+"/_mitosis/"),
		chromedp.WaitVisible(chromedp.CSS(`#chart-replicas svg path.ln`))); err != nil {
		t.Fatalf("child %s page: %v", child, err)
	}
	var ups string
	waitFor(t, 10*time.Second, "a scale-up with its reason among the decisions", func() bool {
		s, err := browsertest.Eval[string](page, 5*time.Second,
			`[...document.querySelectorAll('#decisions li.up')].map(li => li.textContent).join('\n')`)
		ups = s
		return err == nil && strings.Contains(s, "→") && strings.Contains(s, "acted")
	})
	t.Logf("scale-ups on the page:\n%s", ups)
	if err := page.Screenshot(browsertest.ArtifactPath(t, "dashboard.png")); err != nil {
		t.Error(err)
	}

	rs := stopLoad()
	t.Logf("%s after start: load stopped after %d requests: %v", time.Since(start).Round(time.Second), len(rs), tally(t, rs))
	waitFor(t, 60*time.Second, "the replica chart to fall back to 1", func() bool {
		v, err := chartLast(page)
		return err == nil && v.Desired == 1 && v.Running == 1
	})
	var banner string
	waitFor(t, 20*time.Second, "the retired child's page to say so and link to a sibling", func() bool {
		s, err := browsertest.Eval[string](tab, 5*time.Second,
			`(() => { const b = document.querySelector('#banner'); return b.hidden ? '' : b.textContent + ' ' +
			   [...b.querySelectorAll('a')].map(a => a.href).join(' '); })()`)
		banner = s
		return err == nil && (strings.Contains(s, "retired") || strings.Contains(s, "draining")) &&
			strings.Contains(s, "http://"+p.admin+"/_mitosis/")
	})
	t.Logf("%s after start: scaled down; the child's tab says: %s", time.Since(start).Round(time.Second), banner)

	if errs := page.Errors(); len(errs) > 0 {
		t.Errorf("console errors on the root's page:\n%s", strings.Join(errs, "\n"))
	}
	// The child's tab logs its failed polls once the child is gone;
	// nothing else.
	for _, e := range tab.Errors() {
		if !strings.Contains(e, "ERR_CONNECTION_REFUSED") && !strings.Contains(e, "Failed to fetch") {
			t.Errorf("console error on the child's page: %s", e)
		}
	}
}

// viewPoints returns the history of p's page data.
func viewPoints(t *testing.T, p *proc, token string) []struct{ Running int } {
	t.Helper()
	code, body, err := get(p.adminURL("/_mitosis/api/view"), map[string]string{"X-Mitosis-Token": token})
	if err != nil || code != 200 {
		t.Fatalf("view: %d %v", code, err)
	}
	var v struct{ Points []struct{ Running int } }
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v.Points
}

// childAdmin returns the admin address of a ready child of p, as p's
// page data lists it.
func childAdmin(t *testing.T, p *proc, token string) string {
	t.Helper()
	code, body, err := get(p.adminURL("/_mitosis/api/view"), map[string]string{"X-Mitosis-Token": token})
	if err != nil || code != 200 {
		t.Fatalf("view: %d %v", code, err)
	}
	var v struct {
		Replicas []struct {
			Admin, State string
			Self         bool
		}
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Replicas {
		if !r.Self && r.State == "ready" {
			return r.Admin
		}
	}
	t.Fatalf("no ready child in %s", body)
	return ""
}
