package replica

import (
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/config"
)

// An entry (MITOSIS_ROLE=entry) in front of two replicas of a tier serves
// nothing itself: every request is answered by a replica, and once one of
// them is gone the other answers them all, without an error in between.
func TestEntryForwardsToTheTier(t *testing.T) {
	var served [2]atomic.Int64
	var tier [2]*started
	for i, id := range []string{"web-a", "web-b"} {
		c := testConfig(id)
		c.Health.Interval, c.Health.Timeout = 100*time.Millisecond, 100*time.Millisecond
		tier[i] = startTest(t, c, WithHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			served[i].Add(1)
			io.WriteString(w, id)
		})))
	}
	c := testConfig("entry")
	c.Role = config.RoleEntry
	c.Driver = "auto"
	c.Peers = tier[0].AdminAddr() + "," + tier[1].AdminAddr()
	c.Health.Interval, c.Health.Timeout = 100*time.Millisecond, 100*time.Millisecond
	entry := startTest(t, c)
	url := "http://" + entry.Addr() + "/"
	waitUntil(t, 10*time.Second, "the entry to see both replicas ready", func() bool {
		ready := 0
		for _, m := range stateDoc(t, entry).Members {
			if m.State == "ready" {
				ready++
			}
		}
		return ready == 2
	})
	if d := stateDoc(t, entry); d.Replicas == nil || d.Replicas.Driver != "off" {
		t.Fatalf("the entry's platform is %+v, want driver off", d.Replicas)
	}

	answered := map[string]int{}
	for range 40 {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("through the entry: %d %q", resp.StatusCode, body)
		}
		answered[resp.Header.Get("X-Mitosis-Replica")]++
	}
	if answered["entry"] > 0 || answered["web-a"]+answered["web-b"] != 40 {
		t.Fatalf("answered by %v, want the tier only", answered)
	}

	// One replica of the tier goes away: the entry keeps answering.
	tier[1].stop()
	tier[1].exit(t)
	before := served[0].Load()
	for range 20 {
		code, body := getBody(t, url)
		if code != 200 || body != "web-a" {
			t.Fatalf("with web-b gone: %d %q, want 200 from web-a", code, body)
		}
	}
	if got := served[0].Load() - before; got != 20 {
		t.Fatalf("web-a served %d of 20", got)
	}
}

// An entry refuses an app of its own.
func TestEntryRefusesAnApp(t *testing.T) {
	c := testConfig("entry")
	c.Role, c.Peers = config.RoleEntry, "127.0.0.1:1"
	if _, err := Start(c, WithLogger(quiet()), WithHurry(noHurry), WithHandler(http.NotFoundHandler())); err == nil {
		t.Fatal("an entry started with a handler")
	}
}
