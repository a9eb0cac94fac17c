package integration

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestDashboardAndRulesUseExportedMetrics: every mitosis_* name the
// Grafana dashboard and the Prometheus alert rules (deploy/) use is one a
// running replica (process driver, HTTPS from files) exports, so a renamed
// metric cannot leave a panel empty or an alert silent.
func TestDashboardAndRulesUseExportedMetrics(t *testing.T) {
	integration(t)
	// HTTPS from files, so the TLS series exist too.
	cf, kf, _ := writeCert(t, t.TempDir(), time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), "a.example")
	p := startReady(t, "names", append(append([]string{}, driverEnv...), "MITOSIS_MAX_REPLICAS=1",
		"MITOSIS_TLS_CERT="+cf, "MITOSIS_TLS_KEY="+kf, "MITOSIS_TLS_LISTEN="+freeAddr(t)))
	var used []string
	set := map[string]bool{}
	for _, f := range []string{"../deploy/grafana/mitosis.json", "../deploy/prometheus/mitosis.rules.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range regexp.MustCompile(`\bmitosis_[a-z0-9_]+`).FindAllString(string(b), -1) {
			if !set[n] {
				set[n] = true
				used = append(used, n)
			}
		}
	}
	sort.Strings(used)
	if len(used) < 15 {
		t.Fatalf("found only %d metric names in deploy/: %v", len(used), used)
	}
	if code, _, err := get(p.pubURL("/"), nil); err != nil || code != 200 {
		t.Fatalf("GET /: %d %v", code, err)
	}
	var missing []string
	// The autoscaler's series appear with its first tick.
	defer func() {
		if len(missing) > 0 {
			t.Errorf("used in deploy/ but not exported: %v", missing)
		}
	}()
	waitFor(t, 10*time.Second, "every metric name deploy/ uses on /metrics", func() bool {
		_, body, err := get(p.adminURL("/metrics"), nil)
		if err != nil {
			return false
		}
		exported := map[string]bool{}
		for _, line := range strings.Split(body, "\n") {
			if i := strings.IndexAny(line, "{ "); i > 0 && !strings.HasPrefix(line, "#") {
				exported[line[:i]] = true
			}
		}
		missing = missing[:0]
		for _, n := range used {
			if !exported[n] {
				missing = append(missing, n)
			}
		}
		return len(missing) == 0
	})
	t.Logf("%d names checked: %v", len(used), used)
}
