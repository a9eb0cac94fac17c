package main

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/balancer"
	"github.com/mitosis-run/mitosis/health"
	"github.com/mitosis-run/mitosis/internal/config"
	"github.com/mitosis-run/mitosis/pool"
)

// replicasDoc is what /_mitosis/state says of the platform.
type replicasDoc struct {
	Driver   string `json:"driver"`
	Desired  int    `json:"desired"`
	Running  int    `json:"running"`
	Leader   bool   `json:"leader"`
	CanScale bool   `json:"can_scale"`
	Error    string `json:"error,omitempty"`
}

// stateDoc is the JSON of GET /_mitosis/state: this replica's load (the
// part siblings read, pool.State) plus what it knows of the others.
type stateDoc struct {
	pool.State
	Members   []pool.Member        `json:"members"`
	Replicas  *replicasDoc         `json:"replicas,omitempty"`
	Decisions []autoscale.Decision `json:"decisions,omitempty"`
}

// node is the running replica as the admin server shows it.
type node struct {
	cfg      config.Config
	h        *balancer.Handler
	status   *health.Status
	store    *pool.Store
	loop     *autoscale.Loop // nil when the driver is off
	replicas func() *replicasDoc
	canScale func() bool
	now      func() time.Time
}

func (n *node) selfState() pool.State {
	now := n.now()
	s := n.h.Signal().Snapshot(now)
	return pool.State{
		ID:         n.cfg.ReplicaID,
		PublicPort: portOf(n.cfg.Listen),
		Inflight:   s.Inflight,
		Queued:     s.Queued,
		Capacity:   s.Capacity,
		QueueMax:   s.QueueMax,
		RPS:        s.RPS,
		LatencyMS:  latencyMS(s.App.P50, s.App.P95, s.App.P99, s.App.EWMA),
		TotalMS:    latencyMS(s.Total.P50, s.Total.P95, s.Total.P99, s.Total.EWMA),
		Shed:       s.Shed,
		Draining:   n.h.Draining(),
		Ready:      n.status.Ready(context.Background()) == nil,
		CanScale:   n.canScale(),
	}
}

// selfMember is this replica as a row of its own pool table. Its p95 is
// the total time (queue included): that is what the latency SLO is about.
func (n *node) selfMember(now time.Time) pool.Member {
	s := n.h.Signal().Snapshot(now)
	st := pool.StateReady
	if n.h.Draining() {
		st = pool.StateDraining
	}
	return pool.Member{
		Key: n.cfg.AdminListen, ID: n.cfg.ReplicaID, Addr: n.cfg.Listen, AdminAddr: n.cfg.AdminListen,
		State: st, Inflight: s.Inflight, Queued: s.Queued, Capacity: s.Capacity, QueueMax: s.QueueMax,
		LatencyEWMA: s.App.EWMA, LatencyP95: s.Total.P95, RPS: s.RPS, Shed: s.Shed,
		CanScale: n.canScale(), Updated: now, Source: "self",
	}
}

func (n *node) state() stateDoc {
	d := stateDoc{State: n.selfState(), Members: n.store.List()}
	if d.Members == nil {
		d.Members = []pool.Member{}
	}
	if n.replicas != nil {
		d.Replicas = n.replicas()
	}
	if n.loop != nil {
		d.Decisions = n.loop.History()
	}
	return d
}

func latencyMS(p50, p95, p99, ewma time.Duration) pool.Latency {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return pool.Latency{P50: ms(p50), P95: ms(p95), P99: ms(p99), EWMA: ms(ewma)}
}

func (n *node) adminMux(reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", n.status.Healthz)
	mux.HandleFunc("GET /readyz", n.status.Readyz)
	mux.HandleFunc("GET /_mitosis/state", func(w http.ResponseWriter, r *http.Request) {
		if !pool.TokenOK(r, n.cfg.Balancer.ClusterToken) {
			http.Error(w, "missing or wrong X-Mitosis-Token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(n.state())
	})
	mux.HandleFunc("GET /_mitosis/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = livePage.Execute(w, n.state())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/_mitosis/", http.StatusFound)
	})
	return mux
}

var livePage = template.Must(template.New("live").Funcs(template.FuncMap{
	"ms": func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(100*time.Millisecond).String() + " ago"
	},
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>mitosis {{.ID}}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}th{background:#eee}
.ready{color:#070}.down{color:#b00}.draining{color:#a60}</style></head><body>
<h1>mitosis — replica {{.ID}}{{if .Draining}} (draining){{end}}</h1>
<p>In flight {{.Inflight}}/{{.Capacity}}, queued {{.Queued}}/{{.QueueMax}}, {{printf "%.1f" .RPS}} req/s,
app p50/p95/p99 {{.LatencyMS.P50}}/{{.LatencyMS.P95}}/{{.LatencyMS.P99}} ms, shed {{.Shed}}.</p>
{{with .Replicas}}<p>Driver <b>{{.Driver}}</b>: {{.Running}}/{{.Desired}} replicas running{{if .Leader}}, this replica acts{{end}}{{if .Error}}, error: {{.Error}}{{end}}.</p>{{end}}
<h2>Siblings</h2>
<table><tr><th>id</th><th>address</th><th>state</th><th>in flight</th><th>queued</th><th>capacity</th><th>p95</th><th>updated</th><th>source</th></tr>
{{range .Members}}<tr><td>{{.ID}}</td><td>{{.Addr}}</td><td class="{{.State}}">{{.State}}</td><td>{{.Inflight}}</td><td>{{.Queued}}</td><td>{{.Capacity}}</td><td>{{ms .LatencyP95}}</td><td>{{ago .Updated}}</td><td>{{.Source}}</td></tr>
{{else}}<tr><td colspan="9">none known</td></tr>{{end}}</table>
<h2>Decisions</h2>
<table><tr><th>time</th><th>current</th><th>desired</th><th>panic</th><th>acted</th><th style="text-align:left">reason</th></tr>
{{range .Decisions}}<tr><td>{{.Time.Format "15:04:05"}}</td><td>{{.Current}}</td><td>{{.Desired}}</td><td>{{.Panic}}</td><td>{{.Acted}}</td><td style="text-align:left">{{.Reason}}</td></tr>
{{else}}<tr><td colspan="6">no decisions (autoscaling off here)</td></tr>{{end}}</table>
<p><a href="/_mitosis/state">state JSON</a> · <a href="/metrics">metrics</a></p>
</body></html>
`))
