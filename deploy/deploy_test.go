// Package deploy holds what operators deploy next to mitosis: Prometheus
// alert rules and example scrape configs (prometheus/), and a Grafana
// dashboard (grafana/). These tests check that they fit the binary: the
// dashboard is well-formed, its queries parse, and every metric name the
// dashboard and the rules use is one a running replica exports.
package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

type target struct {
	RefID  string `json:"refId"`
	Expr   string `json:"expr"`
	Legend string `json:"legendFormat"`
}

type panel struct {
	ID      int                      `json:"id"`
	Type    string                   `json:"type"`
	Title   string                   `json:"title"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []target                 `json:"targets"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("grafana", "mitosis.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana/mitosis.json: %v", err)
	}
	return d
}

// exprs returns every PromQL expression of the dashboard.
func (d dashboard) exprs() []string {
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	for _, a := range d.Annotations.List {
		out = append(out, a.Expr)
	}
	return out
}

var metricName = regexp.MustCompile(`\bmitosis_[a-z0-9_]+`)

// namesIn returns the mitosis_* metric names in texts, sorted.
func namesIn(texts ...string) []string {
	set := map[string]bool{}
	for _, s := range texts {
		for _, n := range metricName.FindAllString(s, -1) {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestGrafanaDashboard: the JSON is well-formed for Grafana (ids, grid,
// targets, the datasource and tier variables) and charts what the issue
// asks for.
func TestGrafanaDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q title %q: both needed for import", d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["job"] != "query" {
		t.Errorf("template variables %v, want datasource (datasource) and job (query)", vars)
	}
	ids := map[int]bool{}
	type cell struct{ x, y int }
	used := map[cell]string{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				used[cell{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] || strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q: target %+v (refId empty or repeated, or no expr)", p.Title, tg)
			}
			refs[tg.RefID] = true
			if strings.Contains(tg.Expr, "mitosis_") && !strings.Contains(tg.Expr, `job=~"$job"`) {
				t.Errorf("panel %q: %s does not select the tier ($job)", p.Title, tg.Expr)
			}
		}
	}
	// What a user watches the loop with (issue 16).
	names := namesIn(d.exprs()...)
	for _, want := range []string{
		"mitosis_replicas_desired", "mitosis_replicas_running", // replicas (pending is their difference)
		"mitosis_request_duration_seconds_count",  // tier request rate
		"mitosis_request_duration_seconds_bucket", // p50/p95 latency
		"mitosis_queue_depth", "mitosis_inflight",
		"mitosis_shed_total", "mitosis_forwarded_total",
		"mitosis_scale_events_total", "mitosis_autoscale_concurrency", "mitosis_autoscale_panic", // decisions
		"mitosis_platform_up", "mitosis_build_info",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("no panel charts %s", want)
		}
	}
}

// TestDashboardQueriesParse hands every dashboard query, with Grafana's
// variables filled in, to promtool as recording rules: a typo in PromQL
// fails here, not on the user's screen. Skips without promtool (fails
// under CI=true).
func TestDashboardQueriesParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no promtool on PATH (apt-get install prometheus), and CI=true")
		}
		t.Skip("no promtool on PATH (apt-get install prometheus)")
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	fill := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$job", ".+")
	for i, e := range readDashboard(t).exprs() {
		q, _ := json.Marshal(fill.Replace(e)) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      - record: dashboard_query_%d\n        expr: %s\n", i, q)
	}
	f := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}
