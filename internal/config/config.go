package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/balancer"
	"github.com/mitosis-run/mitosis/certs"
	"github.com/mitosis-run/mitosis/functions"
	"github.com/mitosis-run/mitosis/health"
	"github.com/mitosis-run/mitosis/spawner"
)

type Config struct {
	Listen      string
	AdminListen string
	Upstream    string
	ReplicaID   string

	Balancer  balancer.Config
	Health    health.Config
	Autoscale autoscale.Config
	TLS       certs.Config
	Functions functions.Config

	DrainDelay   time.Duration
	DrainTimeout time.Duration

	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	BodyTimeout       time.Duration
	WriteTimeout      time.Duration
	MaxConns          int

	// ClusterTokenFile names a file holding the cluster token (a Docker
	// secret); Parse reads it into Balancer.ClusterToken.
	ClusterTokenFile string
	// HopToken is set by the process and docker drivers in the replicas
	// they start: the token their hops carry when no cluster token is set
	// (it guards hops only, not the admin endpoints).
	HopToken string

	LogLevel  slog.Level
	LogFormat string
	AccessLog bool
	// PProf serves the Go profiler on the admin port (MITOSIS_PPROF).
	PProf bool
	// AppStartTimeout is how long the app after -- has to listen on PORT
	// (MITOSIS_APP_START_TIMEOUT).
	AppStartTimeout time.Duration

	Discovery string
	Peers     string
	Service   string
	Network   string
	Driver    string

	// Guard is where the swarm driver scales: "auto", "off" or host:port
	// (MITOSIS_GUARD); GuardTokenFile holds the secret shared with it.
	Guard          string
	GuardTokenFile string
	// HopsFrom is a DNS name whose addresses may send hops besides the
	// siblings (MITOSIS_HOPS_FROM): the tier's entries, e.g.
	// tasks.app_entry. Empty: none.
	HopsFrom string

	// Role is RoleReplica (the default: serve the app, share load, scale)
	// or RoleEntry (serve nothing, forward every request to the replicas
	// of MITOSIS_SERVICE or MITOSIS_PEERS: the front of a tier on hosts
	// without a routing mesh).
	Role string

	// ParentPID is set by the process driver in its children: the child
	// drains and exits when that parent is gone.
	ParentPID int
}

// DefaultConfig returns the defaults listed in README.md.
func DefaultConfig() Config {
	return Config{
		Listen:            ":8080",
		AdminListen:       ":9090",
		ReplicaID:         defaultReplicaID(),
		Balancer:          balancer.DefaultConfig(),
		Health:            health.DefaultConfig(),
		Autoscale:         autoscale.DefaultConfig(),
		TLS:               certs.DefaultConfig(),
		Functions:         functions.DefaultConfig(),
		DrainDelay:        2 * time.Second,
		DrainTimeout:      8 * time.Second,
		AppStartTimeout:   30 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BodyTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		MaxConns:          10_000,
		LogLevel:          slog.LevelInfo,
		LogFormat:         "text",
		Discovery:         "auto",
		Driver:            "auto",
		Guard:             "auto",
		GuardTokenFile:    spawner.DefaultGuardTokenFile,
		Role:              RoleReplica,
	}
}

// Roles (MITOSIS_ROLE).
const (
	RoleReplica = "replica"
	RoleEntry   = "entry"
)

// defaultReplicaID is the host name (a container's short id under Docker),
// with the pid added outside containers so processes on one host differ.
func defaultReplicaID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "mitosis"
	}
	if os.Getpid() == 1 {
		return h
	}
	return h + "-" + strconv.Itoa(os.Getpid())
}

// Validate checks the gathered config: its own fields and each package's.
func (c Config) Validate() error {
	var errs []error
	for _, a := range []struct{ env, v string }{{"MITOSIS_LISTEN", c.Listen}, {"MITOSIS_ADMIN_LISTEN", c.AdminListen}} {
		if _, port, err := net.SplitHostPort(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: must be host:port or :port", a.env, a.v))
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s=%q: port must be in [0; 65535]", a.env, a.v))
		}
	}
	// Port 0 asks the kernel for a free port: two of them never collide.
	if _, port, _ := net.SplitHostPort(c.Listen); c.Listen == c.AdminListen && port != "0" {
		errs = append(errs, fmt.Errorf("MITOSIS_ADMIN_LISTEN=%q: must differ from MITOSIS_LISTEN", c.AdminListen))
	}
	if c.Upstream != "" {
		if _, err := ParseUpstream(c.Upstream); err != nil {
			errs = append(errs, fmt.Errorf("MITOSIS_UPSTREAM=%q: %w", c.Upstream, err))
		}
	}
	if c.DrainDelay < 0 || c.DrainDelay > 10*time.Minute {
		errs = append(errs, fmt.Errorf("MITOSIS_DRAIN_DELAY=%s: must be in [0s; 10m]", c.DrainDelay))
	}
	if c.DrainTimeout <= c.DrainDelay || c.DrainTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("MITOSIS_DRAIN_TIMEOUT=%s: must be above MITOSIS_DRAIN_DELAY (%s) and at most 1h", c.DrainTimeout, c.DrainDelay))
	}
	if c.AppStartTimeout <= 0 || c.AppStartTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("MITOSIS_APP_START_TIMEOUT=%s: must be in (0s; 1h]", c.AppStartTimeout))
	}
	if c.ReadHeaderTimeout <= 0 {
		errs = append(errs, fmt.Errorf("MITOSIS_READ_HEADER_TIMEOUT=%s: must be > 0", c.ReadHeaderTimeout))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("MITOSIS_IDLE_TIMEOUT=%s: must be > 0", c.IdleTimeout))
	}
	for _, d := range []struct {
		env string
		v   time.Duration
	}{{"MITOSIS_BODY_TIMEOUT", c.BodyTimeout}, {"MITOSIS_WRITE_TIMEOUT", c.WriteTimeout}} {
		if d.v <= 0 || d.v > 24*time.Hour {
			errs = append(errs, fmt.Errorf("%s=%s: must be in (0s; 24h]", d.env, d.v))
		}
	}
	if c.MaxConns < 1 || c.MaxConns > 10_000_000 {
		errs = append(errs, fmt.Errorf("MITOSIS_MAX_CONNS=%d: must be in [1; 10000000]", c.MaxConns))
	}
	if c.MaxHeaderBytes < 4096 || c.MaxHeaderBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("MITOSIS_MAX_HEADER_BYTES=%d: must be in [4096; 16777216]", c.MaxHeaderBytes))
	}
	if c.Discovery == "static" && c.Peers == "" {
		errs = append(errs, errors.New("MITOSIS_DISCOVERY=static: needs MITOSIS_PEERS"))
	}
	if strings.ContainsAny(c.HopToken, "\r\n\x00") {
		errs = append(errs, errors.New("MITOSIS_HOP_TOKEN: must not contain CR, LF or NUL"))
	}
	if c.Guard != "auto" && c.Guard != "off" && spawner.CheckGuardAddr(c.Guard) != nil {
		errs = append(errs, fmt.Errorf("MITOSIS_GUARD=%q: must be auto, off or host:port", c.Guard))
	}
	if c.GuardTokenFile == "" {
		errs = append(errs, errors.New(`MITOSIS_GUARD_TOKEN_FILE="": must name the file holding the guard's secret`))
	}
	if c.Role == RoleEntry {
		errs = append(errs, c.validateEntry())
	}
	if c.HopsFrom != "" && !validHostName(c.HopsFrom) {
		errs = append(errs, fmt.Errorf("MITOSIS_HOPS_FROM=%q: must be a DNS name (letters, digits, '.', '-', '_'), e.g. tasks.app_entry", c.HopsFrom))
	}
	if c.ParentPID < 0 {
		errs = append(errs, fmt.Errorf("MITOSIS_PARENT_PID=%d: must be >= 0", c.ParentPID))
	}
	errs = append(errs, c.validateTLS())
	b := c.Balancer
	b.ID = c.ReplicaID
	errs = append(errs, b.Validate(), c.Health.Validate(), c.Autoscale.Validate(), c.Functions.Validate())
	return errors.Join(errs...)
}

// Warnings lists settings that are valid alone but work against each
// other; start-up prints them and goes on.
func (c Config) Warnings() []string {
	var out []string
	if t, m := c.Autoscale.TargetConcurrency, c.Balancer.MaxInflight; t >= float64(m) {
		out = append(out, fmt.Sprintf("MITOSIS_TARGET_CONCURRENCY=%g is not below MITOSIS_MAX_INFLIGHT=%d: "+
			"a replica queues requests (and then sheds them) before it asks for more replicas; keep the target well below", t, m))
	}
	return out
}

// validHostName reports whether s is a DNS name as Swarm makes them
// (tasks.<stack>_<service> has an underscore), without scheme or port.
func validHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, r := range s {
		ok := r == '.' || r == '-' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return s != "" && s[0] != '.' && s[0] != '-'
}

// validateEntry checks what the entry role needs: a tier to forward to,
// and no app or driver of its own.
func (c Config) validateEntry() error {
	var errs []error
	if c.Upstream != "" {
		errs = append(errs, fmt.Errorf("MITOSIS_UPSTREAM=%q: MITOSIS_ROLE=entry serves no app (it forwards to the tier); leave it empty", c.Upstream))
	}
	if c.Driver != "auto" && c.Driver != "off" {
		errs = append(errs, fmt.Errorf("MITOSIS_DRIVER=%s: MITOSIS_ROLE=entry starts no replicas; must be auto or off", c.Driver))
	}
	if c.Service == "" && c.Peers == "" {
		errs = append(errs, errors.New("MITOSIS_ROLE=entry: needs the tier to forward to, MITOSIS_SERVICE (its tasks.<service> DNS name) or MITOSIS_PEERS"))
	}
	return errors.Join(errs...)
}

// Print writes the effective configuration, one VAR=value a line with its
// help, the cluster token hidden.
func (c Config) Print(w io.Writer) {
	for _, s := range settings {
		v := s.get(&c)
		if (s.env == "MITOSIS_CLUSTER_TOKEN" || s.env == "MITOSIS_HOP_TOKEN") && v != "" {
			v = "(set, hidden)"
			if s.env == "MITOSIS_CLUSTER_TOKEN" && c.ClusterTokenFile != "" {
				v = "(from MITOSIS_CLUSTER_TOKEN_FILE, hidden)"
			}
		}
		fmt.Fprintf(w, "%s=%s\t# %s\n", s.env, v, s.help)
	}
}

// Environ is c as MITOSIS_*=value lines, one per setting except those
// named in skip: what a child replica needs to run exactly like c.
func (c Config) Environ(skip ...string) []string {
	out := make([]string, 0, len(settings))
	for _, s := range settings {
		if !slices.Contains(skip, s.env) {
			out = append(out, s.env+"="+s.get(&c))
		}
	}
	return out
}

// Vars lists every MITOSIS_* variable, in the order README.md lists them.
func Vars() []string {
	out := make([]string, len(settings))
	for i, s := range settings {
		out[i] = s.env
	}
	return out
}

// ParseUpstream accepts http://host:port[/path] only; a missing port is 80.
func ParseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, errors.New("must be an http:// URL with a host, such as http://127.0.0.1:3000")
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "80")
	}
	return u, nil
}

// validateTLS checks the TLS settings and how they fit the rest.
func (c Config) validateTLS() error {
	errs := []error{c.TLS.Validate()}
	if !c.TLS.Enabled() {
		return errors.Join(errs...)
	}
	addrs := map[string]string{c.Listen: "MITOSIS_LISTEN", c.AdminListen: "MITOSIS_ADMIN_LISTEN"}
	for _, a := range []struct{ env, v string }{{"MITOSIS_TLS_LISTEN", c.TLS.Listen}, {"MITOSIS_HTTP_REDIRECT", c.TLS.RedirectListen}} {
		if _, port, _ := net.SplitHostPort(a.v); a.v == "" || port == "0" {
			continue // off, or a free port the kernel picks
		}
		if other, dup := addrs[a.v]; dup {
			errs = append(errs, fmt.Errorf("%s=%q: must differ from %s", a.env, a.v, other))
		}
		addrs[a.v] = a.env
	}
	// With ACME the tier's account and private keys go from replica to
	// replica over the admin port: only with the cluster token.
	siblings := c.Driver != "off" || c.Peers != "" || c.Service != "" || c.Discovery != "auto"
	if c.TLS.ACME() && siblings && c.Balancer.ClusterToken == "" {
		errs = append(errs, errors.New("MITOSIS_TLS_DOMAINS: replicas share the ACME account and the certificate's private key over the admin port, which needs MITOSIS_CLUSTER_TOKEN (or MITOSIS_DRIVER=off for one replica alone)"))
	}
	return errors.Join(errs...)
}
