package dashboard

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/mitosis-run/mitosis/autoscale"
)

//go:embed assets
var assets embed.FS

// Span is how much history the page charts.
const Span = 15 * time.Minute

// Config says what the page shows besides the load.
type Config struct {
	// ID and Version name this replica and its build in the header.
	ID, Version string
	// Driver names how replicas are started ("swarm", "process", "off"...).
	Driver string
	// Tick is how often a point is recorded and the page polls (clamped to
	// [1s; 2s] for the page).
	Tick time.Duration
	// Token is the cluster token ("" admits everyone): the page and its
	// data need it (see Authorized).
	Token string
}

// Dashboard records the tier's history every tick and serves the page.
type Dashboard struct {
	cfg       Config
	frame     func(now time.Time) Frame
	decisions func() []autoscale.Decision
	now       func() time.Time
	hist      *History
	log       Decisions
	static    http.Handler
}

// New returns a Dashboard for cfg. frame says what this replica knows now;
// decisions (nil when autoscaling is off here) returns the autoscale
// loop's recent decisions, oldest first. now nil is time.Now.
func New(cfg Config, frame func(now time.Time) Frame, decisions func() []autoscale.Decision, now func() time.Time) *Dashboard {
	if now == nil {
		now = time.Now
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 2 * time.Second
	}
	sub, _ := fs.Sub(assets, "assets") // a constant path: cannot fail
	return &Dashboard{
		cfg: cfg, frame: frame, decisions: decisions, now: now,
		hist:   NewHistory(SizeFor(Span, cfg.Tick)),
		static: http.StripPrefix("/_mitosis/assets/", http.FileServerFS(sub)),
	}
}

// Run records a point every Tick until ctx is done.
func (d *Dashboard) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Tick)
	defer t.Stop()
	d.Step(d.now())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.Step(d.now())
		}
	}
}

// Step records one point at now and takes the new decisions.
func (d *Dashboard) Step(now time.Time) {
	d.hist.Record(d.frame(now))
	if d.decisions != nil {
		d.log.Add(d.decisions())
	}
}

// Register adds the page's routes to mux: /_mitosis/ (the page, or the
// sign-in form), /_mitosis/login, /_mitosis/assets/ and /_mitosis/api/view.
func (d *Dashboard) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /_mitosis/{$}", d.page)
	mux.HandleFunc("POST /_mitosis/login", d.login)
	mux.Handle("GET /_mitosis/assets/", secure(d.static))
	mux.HandleFunc("GET /_mitosis/api/view", d.view)
}

// secure adds the headers every response of the page carries: scripts and
// styles only from these files (the data never becomes markup), no
// framing, no referrer (a ?token= URL must not leak).
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

func (d *Dashboard) page(w http.ResponseWriter, r *http.Request) {
	secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := d.now()
		if t := r.URL.Query().Get("token"); t != "" {
			d.exchange(w, r, t, now)
			return
		}
		if !Authorized(r, d.cfg.Token, now) {
			d.loginForm(w, http.StatusUnauthorized, "")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, assets, "assets/index.html")
	})).ServeHTTP(w, r)
}

// login takes the token from the sign-in form.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if err := r.ParseForm(); err != nil {
			d.loginForm(w, http.StatusBadRequest, "The form could not be read.")
			return
		}
		d.exchange(w, r, r.PostForm.Get("token"), d.now())
	})).ServeHTTP(w, r)
}

// exchange turns a correct token into the sign-in cookie and sends the
// browser to the page's plain address (the token leaves the URL bar and
// the history); a wrong one gets the form again.
func (d *Dashboard) exchange(w http.ResponseWriter, r *http.Request, token string, now time.Time) {
	if d.cfg.Token != "" && !equal(token, d.cfg.Token) {
		d.loginForm(w, http.StatusUnauthorized, "Wrong token.")
		return
	}
	if d.cfg.Token != "" {
		signIn(w, d.cfg.Token, now)
	}
	http.Redirect(w, r, "/_mitosis/", http.StatusSeeOther)
}

var loginPage = template.Must(template.ParseFS(assets, "assets/login.html"))

func (d *Dashboard) loginForm(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = loginPage.Execute(w, struct{ ID, Message string }{d.cfg.ID, msg})
}

// View is the JSON the page polls (GET /_mitosis/api/view?since=<ms>).
type View struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	Driver   string `json:"driver"`
	Admin    string `json:"admin"`
	Draining bool   `json:"draining"`
	Leader   bool   `json:"leader"`
	Error    string `json:"error,omitempty"`
	// Now is the server's time, TickMS the poll interval, SpanMS the
	// charted span, all in milliseconds.
	Now    int64 `json:"now"`
	TickMS int64 `json:"tick_ms"`
	SpanMS int64 `json:"span_ms"`
	// Points are the history newer than ?since= (all of it without).
	Points    []Point `json:"points"`
	Replicas  []Row   `json:"replicas"`
	Decisions []Entry `json:"decisions"`
}

// Row is one replica in the page's table.
type Row struct {
	ID       string  `json:"id"`
	Addr     string  `json:"addr"`
	Admin    string  `json:"admin"`
	State    string  `json:"state"`
	Self     bool    `json:"self"`
	RPS      float64 `json:"rps"`
	Inflight int     `json:"inflight"`
	Queued   int     `json:"queued"`
	Capacity int     `json:"capacity"`
	P95      float64 `json:"p95"`
	Shed     uint64  `json:"shed"`
	// AgeMS is how old the figures are (0 for this replica).
	AgeMS int64 `json:"age_ms"`
}

// decisionsShown is how many log entries one view carries.
const decisionsShown = 60

func (d *Dashboard) view(w http.ResponseWriter, r *http.Request) {
	now := d.now()
	if !Authorized(r, d.cfg.Token, now) {
		http.Error(w, "sign in at /_mitosis/ (MITOSIS_CLUSTER_TOKEN is set)", http.StatusUnauthorized)
		return
	}
	since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	f := d.frame(now)
	v := View{
		ID: d.cfg.ID, Version: d.cfg.Version, Driver: d.cfg.Driver, Admin: f.Self,
		Draining: f.Draining, Leader: f.Leader, Error: f.Error,
		Now: now.UnixMilli(), TickMS: pageTick(d.cfg.Tick).Milliseconds(), SpanMS: Span.Milliseconds(),
		Points:    d.hist.Since(since),
		Replicas:  rows(f, now),
		Decisions: d.log.Newest(decisionsShown),
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_ = json.NewEncoder(w).Encode(v)
}

// pageTick is how often the page polls: the tick, within [1s; 2s].
func pageTick(tick time.Duration) time.Duration {
	return min(max(tick, time.Second), 2*time.Second)
}

func rows(f Frame, now time.Time) []Row {
	out := make([]Row, 0, len(f.Members))
	for _, m := range f.Members {
		r := Row{
			ID: m.ID, Addr: m.Addr, Admin: m.AdminAddr, State: string(m.State), Self: m.Key == f.Self,
			RPS: round3(m.RPS), Inflight: m.Inflight, Queued: m.Queued, Capacity: m.Capacity,
			P95: round3(ms(m.LatencyP95)), Shed: m.Shed,
		}
		if !r.Self && !m.Updated.IsZero() {
			r.AgeMS = now.Sub(m.Updated).Milliseconds()
		}
		out = append(out, r)
	}
	return out
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
