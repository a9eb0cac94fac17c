package admin

import (
	"html/template"
	"time"
)

// page is /_mitosis/: the state document as a table that reloads itself.
// Percentiles are bucketed (the upper bound of a log-scale bucket, at most
// ~19% above the true value): the page says so.
var page = template.Must(template.New("live").Funcs(template.FuncMap{
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
app p50/p95/p99 {{.LatencyMS.P50}}/{{.LatencyMS.P95}}/{{.LatencyMS.P99}} ms (bucketed: up to ¼ high), shed {{.Shed}}.</p>
{{with .Replicas}}<p>Driver <b>{{.Driver}}</b>: {{.Running}}/{{.Desired}} replicas running{{if .Leader}}, this replica acts{{end}}{{if .Error}}, error: {{.Error}}{{end}}.</p>{{end}}
<h2>Siblings</h2>
<table><tr><th>id</th><th>address</th><th>state</th><th>in flight</th><th>queued</th><th>capacity</th><th>app p95 (bucketed)</th><th>updated</th><th>source</th></tr>
{{range .Members}}<tr><td>{{.ID}}</td><td>{{.Addr}}</td><td class="{{.State}}">{{.State}}</td><td>{{.Inflight}}</td><td>{{.Queued}}</td><td>{{.Capacity}}</td><td>{{ms .LatencyP95}}</td><td>{{ago .Updated}}</td><td>{{.Source}}</td></tr>
{{else}}<tr><td colspan="9">none known</td></tr>{{end}}</table>
<h2>Decisions</h2>
<table><tr><th>time</th><th>current</th><th>desired</th><th>panic</th><th>acted</th><th style="text-align:left">reason</th></tr>
{{range .Decisions}}<tr><td>{{.Time.Format "15:04:05"}}</td><td>{{.Current}}</td><td>{{.Desired}}</td><td>{{.Panic}}</td><td>{{.Acted}}</td><td style="text-align:left">{{.Reason}}</td></tr>
{{else}}<tr><td colspan="6">no decisions (autoscaling off here)</td></tr>{{end}}</table>
<p><a href="/_mitosis/state">state JSON</a> · <a href="/metrics">metrics</a></p>
</body></html>
`))
