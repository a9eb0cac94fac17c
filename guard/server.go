package guard

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/spawner"
)

// platform is what the guard needs of Swarm (*spawner.Services).
type platform interface {
	taskSource
	State(ctx context.Context, id string) (spawner.ServiceState, error)
	Scale(ctx context.Context, id string, version uint64, n int, check func(spawner.ServiceState) error) error
}

// maxBody bounds a request body: a run's stdin, args and env (1 MiB).
const maxBody = 1 << 20

// Server is the capability API. Safe for concurrent use.
type Server struct {
	cfg     Config
	token   []byte
	plat    platform
	runner  runnerFor
	callers *callerMap
	scales  *buckets
	reads   *buckets
	runs    *slots
	m       *metrics
	log     *slog.Logger
	now     func() time.Time
}

// NewServer returns the API for a valid cfg. token is the shared secret;
// p acts on Swarm; runner starts function containers (nil: runs are
// refused as not allowed). Metrics go on reg (nil: not registered); log
// nil discards; now nil is time.Now.
func NewServer(cfg Config, token []byte, p platform, runner runnerFor, reg prometheus.Registerer, log *slog.Logger, now func() time.Time) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(token) < spawner.MinGuardTokenBytes {
		return nil, fmt.Errorf("guard: the shared secret has %d bytes, must have at least %d", len(token), spawner.MinGuardTokenBytes)
	}
	if p == nil {
		return nil, errors.New("guard: NewServer needs a platform")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	s := &Server{
		cfg: cfg, token: token, plat: p, runner: runner, m: m, log: log, now: now,
		scales: newBuckets(float64(cfg.ScalesPerMinute)/60, float64(max(cfg.ScalesPerMinute/6, 1)), now),
		reads:  newBuckets(float64(cfg.ReadsPerSecond), float64(2*cfg.ReadsPerSecond), now),
		runs:   newSlots(cfg.Runs),
	}
	s.callers = newCallerMap(p, cfg.Label, cfg.CacheTTL, cfg.RefreshEvery, now, m.refreshed)
	return s, nil
}

// refusal is a call the guard turns down, with the rule it broke.
type refusal struct {
	status int
	rule   string
	msg    string
}

func (r *refusal) Error() string { return r.rule + ": " + r.msg }

func refuse(status int, rule, format string, args ...any) *refusal {
	return &refusal{status: status, rule: rule, msg: fmt.Sprintf(format, args...)}
}

// action is one capability: its method and handler. A handler returns
// the answer's body, or a refusal; attrs go to the call's log line.
type action struct {
	name   string
	method string
	handle func(s *Server, r *http.Request, c caller) (body any, attrs []any, err error)
}

var actions = map[string]action{
	spawner.GuardPathWhoami: {"whoami", http.MethodGet, (*Server).whoami},
	spawner.GuardPathStatus: {"status", http.MethodGet, (*Server).status},
	spawner.GuardPathScale:  {"scale", http.MethodPost, (*Server).scale},
	spawner.GuardPathRun:    {"run", http.MethodPost, (*Server).run},
}

// ServeHTTP answers the capability API's paths and 404 to everything
// else: no request is ever passed on to the daemon.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	act, ok := actions[r.URL.Path]
	var c caller
	var body any
	var attrs []any
	var err error
	switch {
	case !ok:
		act.name = "none"
		err = refuse(http.StatusNotFound, spawner.RuleNotFound, "no capability at %s %s (this is not the Docker Engine API)", r.Method, r.URL.Path)
	case r.Method != act.method:
		w.Header().Set("Allow", act.method)
		err = refuse(http.StatusMethodNotAllowed, spawner.RuleMethod, "%s wants %s", r.URL.Path, act.method)
	default:
		if c, err = s.identify(r); err == nil {
			body, attrs, err = act.handle(s, r, c)
		}
	}
	result := "ok"
	var ref *refusal
	switch {
	case errors.As(err, &ref):
		result = ref.rule
		writeJSON(w, ref.status, spawner.GuardError{Rule: ref.rule, Message: ref.msg})
	case err != nil:
		// Not a refusal: a failure of the daemon or of a run.
		ref = refuse(http.StatusBadGateway, spawner.RuleEngine, "%v", err)
		result = ref.rule
		writeJSON(w, ref.status, spawner.GuardError{Rule: ref.rule, Message: ref.msg})
	default:
		writeJSON(w, http.StatusOK, body)
	}
	d := s.now().Sub(start)
	s.m.call(c.Service, act.name, result, d)
	level := slog.LevelInfo
	switch {
	case ref != nil:
		level = slog.LevelWarn
	case act.name == "whoami" || act.name == "status":
		level = slog.LevelDebug // every replica asks every tick
	}
	args := append([]any{"caller", r.RemoteAddr, "task", c.Task, "service", c.Service, "action", act.name, "result", result, "ms", d.Milliseconds()}, attrs...)
	if ref != nil {
		args = append(args, "error", ref.msg)
	}
	s.log.Log(r.Context(), level, "guard: call", args...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// identify checks the shared secret, then finds the caller by the
// connection's source address: nothing the caller says names it.
func (s *Server) identify(r *http.Request) (caller, error) {
	tok, ok := strings.CutPrefix(r.Header.Get(spawner.GuardTokenHeader), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(tok), s.token) != 1 {
		return caller{}, refuse(http.StatusUnauthorized, spawner.RuleBadToken, "missing or wrong shared secret (Authorization: Bearer, MITOSIS_GUARD_TOKEN_FILE)")
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return caller{}, refuse(http.StatusForbidden, spawner.RuleUnknownCaller, "no source address (%q)", r.RemoteAddr)
	}
	c, err := s.callers.lookup(r.Context(), ap.Addr())
	if errors.Is(err, errUnknownCaller) {
		return caller{}, refuse(http.StatusForbidden, spawner.RuleUnknownCaller, "%s is not a running task of a service labelled %s", ap.Addr(), s.cfg.Label)
	}
	return c, err
}

// ownService refuses a request that names a service that is not the
// caller's; empty names the caller's.
func ownService(c caller, name string) error {
	if name != "" && name != c.Service {
		return refuse(http.StatusForbidden, spawner.RuleOtherService, "the caller is a task of %s, not of %s", c.Service, name)
	}
	return nil
}

func (s *Server) whoami(_ *http.Request, c caller) (any, []any, error) {
	return spawner.GuardWhoami{Service: c.Service, Task: c.Task}, nil, nil
}

func (s *Server) status(r *http.Request, c caller) (any, []any, error) {
	q := r.URL.Query()
	for k := range q {
		if k != "service" {
			return nil, nil, refuse(http.StatusBadRequest, spawner.RuleUnknownField, "unknown query parameter %q", k)
		}
	}
	if err := ownService(c, q.Get("service")); err != nil {
		return nil, nil, err
	}
	if !s.reads.allow(c.ServiceID) {
		return nil, nil, refuse(http.StatusTooManyRequests, spawner.RuleRateLimited, "more than %d reads a second for %s", s.cfg.ReadsPerSecond, c.Service)
	}
	st, err := s.plat.State(r.Context(), c.ServiceID)
	if err != nil {
		return nil, nil, err
	}
	out := spawner.GuardStatus{Service: st.Name, Desired: st.Desired, Running: st.Running, Version: st.Version, Tasks: []spawner.GuardTask{},
		Pending: st.Pending, PendingReason: st.PendingReason, PendingMessage: st.PendingMessage, Placement: st.Placement}
	out.Min, out.Max, _ = bounds(st, s.cfg.HardCap) // unreadable: 0, 0; scale says why
	for _, t := range st.Tasks {
		out.Tasks = append(out.Tasks, spawner.GuardTask{Name: t.Name, ID: t.ID, Slot: t.Slot, State: t.State, Addrs: t.Addrs})
	}
	return out, nil, nil
}

func (s *Server) scale(r *http.Request, c caller) (any, []any, error) {
	var req spawner.GuardScaleRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, nil, err
	}
	attrs := []any{"replicas", req.Replicas, "version", req.Version}
	if err := ownService(c, req.Service); err != nil {
		return nil, attrs, err
	}
	if !s.scales.allow(c.ServiceID) {
		return nil, attrs, refuse(http.StatusTooManyRequests, spawner.RuleRateLimited, "more than %d scale calls a minute for %s", s.cfg.ScalesPerMinute, c.Service)
	}
	from := -1
	err := s.plat.Scale(r.Context(), c.ServiceID, req.Version, req.Replicas, func(st spawner.ServiceState) error {
		from = st.Desired
		switch {
		case st.ID != c.ServiceID:
			return fmt.Errorf("guard: asked for service %s, read %s", c.ServiceID, st.ID)
		case !st.Replicated:
			return refuse(http.StatusForbidden, spawner.RuleNotReplicated, "%s is not a replicated service", st.Name)
		}
		lo, hi, err := bounds(st, s.cfg.HardCap)
		switch {
		case err != nil:
			return refuse(http.StatusForbidden, spawner.RuleBadBounds, "%s: %v", st.Name, err)
		case req.Replicas > hi:
			return refuse(http.StatusForbidden, spawner.RuleAboveMax, "%d replicas of %s: above its maximum %d", req.Replicas, st.Name, hi)
		case req.Replicas < lo:
			return refuse(http.StatusForbidden, spawner.RuleBelowMin, "%d replicas of %s: below its minimum %d", req.Replicas, st.Name, lo)
		}
		return nil
	})
	attrs = append(attrs, "from", from)
	if spawner.IsConflict(err) {
		return nil, attrs, refuse(http.StatusConflict, spawner.RuleConflict, "%v", err)
	}
	if err != nil {
		return nil, attrs, err
	}
	return spawner.GuardScaleResult{Service: c.Service, Replicas: req.Replicas}, attrs, nil
}

// bounds reads the replica bounds the service gives itself:
// MITOSIS_MIN_REPLICAS and MITOSIS_MAX_REPLICAS in its spec's environment
// (the replica's defaults where unset), the maximum capped at hardCap.
// Flags in the service's command do not count.
func bounds(st spawner.ServiceState, hardCap int) (lo, hi int, err error) {
	def := autoscale.DefaultConfig()
	lo, hi = def.MinReplicas, def.MaxReplicas
	for _, b := range []struct {
		key string
		p   *int
	}{{"MITOSIS_MIN_REPLICAS", &lo}, {"MITOSIS_MAX_REPLICAS", &hi}} {
		v, ok := st.EnvValue(b.key)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, 0, fmt.Errorf("%s=%q in the service spec is not a whole number", b.key, v)
		}
		*b.p = n
	}
	hi = min(hi, hardCap)
	if lo < 1 || hi < lo {
		return 0, 0, fmt.Errorf("replica bounds [%d; %d] are not a range within [1; %d]", lo, hi, hardCap)
	}
	return lo, hi, nil
}

// decodeStrict decodes one JSON object of at most maxBody bytes into v:
// an unknown field, a second value or trailing bytes are refused, so no
// option can be smuggled past the API's fields.
func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tooLarge):
		return refuse(http.StatusRequestEntityTooLarge, spawner.RuleTooLarge, "body above %d bytes", maxBody)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return refuse(http.StatusBadRequest, spawner.RuleUnknownField, "%s (the API has no such option)", strings.TrimPrefix(err.Error(), "json: "))
	default:
		return refuse(http.StatusBadRequest, spawner.RuleBadRequest, "body: %v", err)
	}
}
