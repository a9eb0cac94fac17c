package admin

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/pool"
)

// Platform is what the state document says of the platform.
type Platform struct {
	Driver   string `json:"driver"`
	Desired  int    `json:"desired"`
	Running  int    `json:"running"`
	Leader   bool   `json:"leader"`
	CanScale bool   `json:"can_scale"`
	Error    string `json:"error,omitempty"`
}

// Doc is the JSON of GET /_mitosis/state: this replica's load (the part
// siblings read, pool.State) plus what it knows of the others.
type Doc struct {
	pool.State
	Members   []pool.Member        `json:"members"`
	Replicas  *Platform            `json:"replicas,omitempty"`
	Decisions []autoscale.Decision `json:"decisions,omitempty"`
}

// Health serves the liveness and readiness endpoints (health.Status).
type Health interface {
	Healthz(w http.ResponseWriter, r *http.Request)
	Readyz(w http.ResponseWriter, r *http.Request)
}

// Options is what the admin handler serves.
type Options struct {
	// Registry is read by /metrics, which adds its own error counter to it.
	Registry *prometheus.Registry
	// Health answers /healthz and /readyz.
	Health Health
	// Token is MITOSIS_CLUSTER_TOKEN: when set, /_mitosis/state answers
	// only requests that carry it.
	Token string
	// State returns the document, once per request.
	State func() Doc
}

// Handler routes the admin endpoints.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	mux.HandleFunc("GET /healthz", o.Health.Healthz)
	mux.HandleFunc("GET /readyz", o.Health.Readyz)
	mux.HandleFunc("GET /_mitosis/state", func(w http.ResponseWriter, r *http.Request) {
		if !pool.TokenOK(r, o.Token) {
			http.Error(w, "missing or wrong X-Mitosis-Token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(o.State())
	})
	mux.HandleFunc("GET /_mitosis/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, o.State())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/_mitosis/", http.StatusFound)
	})
	return mux
}
