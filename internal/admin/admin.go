package admin

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/internal/dashboard"
	"github.com/mitosis-run/mitosis/pool"
)

// Platform is what the state document says of the platform.
type Platform struct {
	Driver  string `json:"driver"`
	Desired int    `json:"desired"`
	Running int    `json:"running"`
	// Pending replicas the platform cannot place, and why (spawner.Pending*).
	Pending       int    `json:"pending,omitempty"`
	PendingReason string `json:"pending_reason,omitempty"`
	Leader        bool   `json:"leader"`
	CanScale      bool   `json:"can_scale"`
	Error         string `json:"error,omitempty"`
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

// Page is the live page (dashboard.Dashboard): it adds its routes under
// /_mitosis/.
type Page interface {
	Register(mux *http.ServeMux)
}

// Options is what the admin handler serves.
type Options struct {
	// Registry is read by /metrics, which adds its own error counter to it.
	Registry *prometheus.Registry
	// Health answers /healthz and /readyz.
	Health Health
	// Token is MITOSIS_CLUSTER_TOKEN: when set, /_mitosis/state, the page,
	// /_mitosis/targets and /debug/pprof/ answer only requests that carry
	// it (dashboard.Authorized: the header, a bearer token, or the page's
	// sign-in cookie).
	Token string
	// State returns the document, once per request.
	State func() Doc
	// AdminAddr is this admin server's address as bound, listed by
	// /_mitosis/targets (a wildcard host becomes the host the request was
	// sent to).
	AdminAddr string
	// Page serves /_mitosis/ (nil: no page).
	Page Page
	// PProf serves the Go profiler at /debug/pprof/ (MITOSIS_PPROF).
	PProf bool
	// Now is the clock for sign-in cookies (nil: time.Now).
	Now func() time.Time
}

// Handler routes the admin endpoints.
func Handler(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	guard := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !dashboard.Authorized(r, o.Token, o.Now()) {
				http.Error(w, "missing or wrong X-Mitosis-Token", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{Registry: o.Registry}))
	mux.HandleFunc("GET /healthz", o.Health.Healthz)
	mux.HandleFunc("GET /readyz", o.Health.Readyz)
	mux.HandleFunc("GET /_mitosis/state", guard(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(o.State())
	}))
	mux.HandleFunc("GET /_mitosis/targets", guard(func(w http.ResponseWriter, r *http.Request) {
		d := o.State()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Targets(d.ID, selfTarget(o.AdminAddr, r.Host), d.Members))
	}))
	if o.Page != nil {
		o.Page.Register(mux)
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/_mitosis/", http.StatusFound)
		})
	}
	if o.PProf {
		mux.HandleFunc("GET /debug/pprof/", guard(pprof.Index))
		mux.HandleFunc("GET /debug/pprof/cmdline", guard(pprof.Cmdline))
		mux.HandleFunc("GET /debug/pprof/profile", guard(pprof.Profile))
		mux.HandleFunc("GET /debug/pprof/symbol", guard(pprof.Symbol))
		mux.HandleFunc("GET /debug/pprof/trace", guard(pprof.Trace))
	}
	return mux
}
