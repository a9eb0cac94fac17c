package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/balancer"
	"github.com/mitosis-run/mitosis/health"
)

// Config is everything mitosis reads at start-up. Each package keeps its
// own part (Config, DefaultConfig, Validate); this struct only gathers them.
type Config struct {
	Listen      string
	AdminListen string
	Upstream    string
	ReplicaID   string

	Balancer  balancer.Config
	Health    health.Config
	Autoscale autoscale.Config

	DrainDelay   time.Duration
	DrainTimeout time.Duration

	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int

	LogLevel  slog.Level
	LogFormat string
	AccessLog bool

	Discovery string
	Peers     string
	Service   string
	Network   string
	Driver    string

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
		DrainDelay:        2 * time.Second,
		DrainTimeout:      8 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		LogLevel:          slog.LevelInfo,
		LogFormat:         "text",
		Discovery:         "auto",
		Driver:            "auto",
	}
}

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

// setting binds one MITOSIS_* variable (and its mirror flag) to a field.
type setting struct {
	env  string
	help string
	// set parses v into c; the error says what is accepted (the caller adds
	// the variable and the value).
	set func(c *Config, v string) error
	get func(c *Config) string
}

func (s setting) flagName() string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.env, "MITOSIS_")), "_", "-")
}

func str(p func(*Config) *string) codec {
	return codec{func(c *Config, v string) error { *p(c) = v; return nil },
		func(c *Config) string { return *p(c) }}
}

func integer(p func(*Config) *int) codec {
	return codec{func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return errors.New("must be a whole number")
		}
		*p(c) = n
		return nil
	},
		func(c *Config) string { return strconv.Itoa(*p(c)) }}
}

func float(p func(*Config) *float64) codec {
	return codec{func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return errors.New("must be a number")
		}
		*p(c) = f
		return nil
	},
		func(c *Config) string { return strconv.FormatFloat(*p(c), 'g', -1, 64) }}
}

func duration(p func(*Config) *time.Duration) codec {
	return codec{func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return errors.New("must be a Go duration such as 250ms, 5s or 1m30s")
		}
		*p(c) = d
		return nil
	},
		func(c *Config) string { return p(c).String() }}
}

func boolean(p func(*Config) *bool) codec {
	return codec{func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return errors.New("must be true or false")
		}
		*p(c) = b
		return nil
	},
		func(c *Config) string { return strconv.FormatBool(*p(c)) }}
}

func oneOf(p func(*Config) *string, allowed ...string) codec {
	return codec{func(c *Config, v string) error {
		for _, a := range allowed {
			if v == a {
				*p(c) = v
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
	},
		func(c *Config) string { return *p(c) }}
}

// codec parses a value into a field and prints it back.
type codec struct {
	set func(c *Config, v string) error
	get func(c *Config) string
}

func mk(env, help string, cd codec) setting {
	return setting{env: env, help: help, set: cd.set, get: cd.get}
}

// settings is every MITOSIS_* variable, in the order README.md lists them.
var settings = []setting{
	mk("MITOSIS_LISTEN", "public address (host:port) serving the app", str(func(c *Config) *string { return &c.Listen })),
	mk("MITOSIS_ADMIN_LISTEN", "admin address: /metrics, /healthz, /readyz, /_mitosis/", str(func(c *Config) *string { return &c.AdminListen })),
	mk("MITOSIS_UPSTREAM", "URL of an app that already listens (http://host:port); empty: the demo app, or the command after --", str(func(c *Config) *string { return &c.Upstream })),
	mk("MITOSIS_REPLICA_ID", "name of this replica (default: host name, plus -pid outside containers)", str(func(c *Config) *string { return &c.ReplicaID })),
	mk("MITOSIS_MAX_INFLIGHT", "requests inside the app at once", integer(func(c *Config) *int { return &c.Balancer.MaxInflight })),
	mk("MITOSIS_QUEUE_MAX", "requests that may wait for a slot", integer(func(c *Config) *int { return &c.Balancer.QueueMax })),
	mk("MITOSIS_QUEUE_TIMEOUT", "longest wait for a slot before 503", duration(func(c *Config) *time.Duration { return &c.Balancer.QueueTimeout })),
	mk("MITOSIS_REPLICA_HEADER", "add X-Mitosis-Replica to every response", boolean(func(c *Config) *bool { return &c.Balancer.ReplicaHeader })),
	mk("MITOSIS_CLUSTER_TOKEN", "shared secret required on hops and /_mitosis/state", str(func(c *Config) *string { return &c.Balancer.ClusterToken })),
	mk("MITOSIS_DRAIN_DELAY", "after SIGTERM, keep accepting this long while siblings learn we drain", duration(func(c *Config) *time.Duration { return &c.DrainDelay })),
	mk("MITOSIS_DRAIN_TIMEOUT", "after SIGTERM, exit within this long in any case", duration(func(c *Config) *time.Duration { return &c.DrainTimeout })),
	mk("MITOSIS_READ_HEADER_TIMEOUT", "time a client has to send the request headers", duration(func(c *Config) *time.Duration { return &c.ReadHeaderTimeout })),
	mk("MITOSIS_IDLE_TIMEOUT", "idle keep-alive connections are closed after this", duration(func(c *Config) *time.Duration { return &c.IdleTimeout })),
	mk("MITOSIS_MAX_HEADER_BYTES", "largest request header block (larger: 431)", integer(func(c *Config) *int { return &c.MaxHeaderBytes })),
	mk("MITOSIS_LOG_LEVEL", "debug, info, warn or error", codec{func(c *Config, v string) error {
		var l slog.Level
		if err := l.UnmarshalText([]byte(v)); err != nil {
			return errors.New("must be debug, info, warn or error")
		}
		c.LogLevel = l
		return nil
	}, func(c *Config) string { return strings.ToLower(c.LogLevel.String()) }}),
	mk("MITOSIS_LOG_FORMAT", "text or json", oneOf(func(c *Config) *string { return &c.LogFormat }, "text", "json")),
	mk("MITOSIS_ACCESS_LOG", "log one line per request", boolean(func(c *Config) *bool { return &c.AccessLog })),
	mk("MITOSIS_DISCOVERY", "how siblings are found: auto, static, dns, swarm, docker, process", oneOf(func(c *Config) *string { return &c.Discovery }, "auto", "static", "dns", "swarm", "docker", "process")),
	mk("MITOSIS_PEERS", "static discovery: comma-separated sibling admin addresses (host:port)", str(func(c *Config) *string { return &c.Peers })),
	mk("MITOSIS_SERVICE", "the Swarm service of this replica (stack: {{.Service.Name}}); dns discovery resolves tasks.<service>", str(func(c *Config) *string { return &c.Service })),
	mk("MITOSIS_NETWORK", "swarm discovery: the network whose addresses siblings use (default: the service's first)", str(func(c *Config) *string { return &c.Network })),
	mk("MITOSIS_SYNC_INTERVAL", "how often siblings are discovered and polled", duration(func(c *Config) *time.Duration { return &c.Health.Interval })),
	mk("MITOSIS_HEALTH_TIMEOUT", "timeout of one sibling poll", duration(func(c *Config) *time.Duration { return &c.Health.Timeout })),
	mk("MITOSIS_HEALTH_CONCURRENCY", "most sibling polls in flight at once", integer(func(c *Config) *int { return &c.Health.Concurrency })),
	mk("MITOSIS_HEALTH_FAILS", "consecutive failed polls that make a sibling down", integer(func(c *Config) *int { return &c.Health.Fails })),
	mk("MITOSIS_DRIVER", "how replicas are started: auto, swarm, docker, process, off", oneOf(func(c *Config) *string { return &c.Driver }, "auto", "swarm", "docker", "process", "off")),
	mk("MITOSIS_MIN_REPLICAS", "fewest replicas", integer(func(c *Config) *int { return &c.Autoscale.MinReplicas })),
	mk("MITOSIS_MAX_REPLICAS", "most replicas (hard cap)", integer(func(c *Config) *int { return &c.Autoscale.MaxReplicas })),
	mk("MITOSIS_TARGET_CONCURRENCY", "in-flight+queued requests one replica should carry", float(func(c *Config) *float64 { return &c.Autoscale.TargetConcurrency })),
	mk("MITOSIS_TARGET_UTILIZATION", "share of the target to aim for, (0; 1]", float(func(c *Config) *float64 { return &c.Autoscale.TargetUtilization })),
	mk("MITOSIS_LATENCY_SLO", "p95 above this with requests queued asks for one more replica (0: off)", duration(func(c *Config) *time.Duration { return &c.Autoscale.LatencySLO })),
	mk("MITOSIS_STABLE_WINDOW", "averaging window of the stable signal", duration(func(c *Config) *time.Duration { return &c.Autoscale.StableWindow })),
	mk("MITOSIS_PANIC_WINDOW", "averaging window that detects bursts", duration(func(c *Config) *time.Duration { return &c.Autoscale.PanicWindow })),
	mk("MITOSIS_PANIC_THRESHOLD", "panic when the burst desire reaches this × current replicas", float(func(c *Config) *float64 { return &c.Autoscale.PanicThreshold })),
	mk("MITOSIS_SCALE_UP_RATE", "one step up reaches at most ceil(current × rate)", float(func(c *Config) *float64 { return &c.Autoscale.ScaleUpRate })),
	mk("MITOSIS_SCALE_DOWN_RATE", "one step down keeps at least floor(current / rate)", float(func(c *Config) *float64 { return &c.Autoscale.ScaleDownRate })),
	mk("MITOSIS_SCALE_DOWN_DELAY", "the highest desire over this long wins a scale-down", duration(func(c *Config) *time.Duration { return &c.Autoscale.ScaleDownDelay })),
	mk("MITOSIS_TICK", "how often every replica samples and decides", duration(func(c *Config) *time.Duration { return &c.Autoscale.Tick })),
	mk("MITOSIS_DRY_RUN", "decide and report, never act", boolean(func(c *Config) *bool { return &c.Autoscale.DryRun })),
	mk("MITOSIS_PARENT_PID", "internal: set by the process driver in its children", integer(func(c *Config) *int { return &c.ParentPID })),
}

// loadConfig reads the environment, then the flags in args (flags win), and
// validates the result. It returns the config, the arguments after the
// flags (the app command after --), warnings (unknown MITOSIS_* variables)
// and every problem found, joined.
func loadConfig(environ []string, args []string) (Config, []string, []string, error) {
	c := DefaultConfig()
	var errs []error
	known := map[string]bool{}
	for _, s := range settings {
		known[s.env] = true
	}
	var warnings []string
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "MITOSIS_") {
			continue
		}
		if !known[k] {
			warnings = append(warnings, unknownVar(k))
			continue
		}
		env[k] = v
	}
	sort.Strings(warnings)
	for _, s := range settings {
		if v, ok := env[s.env]; ok {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", s.env, v, err))
			}
		}
	}

	fs := flag.NewFlagSet("mitosis", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, s := range settings {
		s := s
		fs.Func(s.flagName(), s.help+" ("+s.env+")", func(v string) error {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("-%s=%q: %w", s.flagName(), v, err))
			}
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		errs = append(errs, err)
	}
	rest := fs.Args()
	// A short sync interval alone must not trip over the default poll
	// timeout: unless set, the timeout follows the interval.
	if _, set := env["MITOSIS_HEALTH_TIMEOUT"]; !set && !flagSet(fs, "health-timeout") && c.Health.Timeout > c.Health.Interval/2 {
		c.Health.Timeout = c.Health.Interval / 2
	}
	// Validate even after parse errors: every problem is reported at once
	// (a field that failed to parse keeps its default and passes).
	errs = append(errs, c.Validate())
	return c, rest, warnings, errors.Join(errs...)
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// unknownVar names an unknown variable and the closest known one.
func unknownVar(k string) string {
	best, bestD := "", 1<<30
	for _, s := range settings {
		if d := editDistance(k, s.env); d < bestD {
			best, bestD = s.env, d
		}
	}
	if bestD <= 3 {
		return fmt.Sprintf("unknown variable %s (did you mean %s?)", k, best)
	}
	return fmt.Sprintf("unknown variable %s (see `mitosis config` for the known ones)", k)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
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
	if c.Listen == c.AdminListen {
		errs = append(errs, fmt.Errorf("MITOSIS_ADMIN_LISTEN=%q: must differ from MITOSIS_LISTEN", c.AdminListen))
	}
	if c.Upstream != "" {
		if _, err := parseUpstream(c.Upstream); err != nil {
			errs = append(errs, fmt.Errorf("MITOSIS_UPSTREAM=%q: %w", c.Upstream, err))
		}
	}
	if c.DrainDelay < 0 || c.DrainDelay > 10*time.Minute {
		errs = append(errs, fmt.Errorf("MITOSIS_DRAIN_DELAY=%s: must be in [0s; 10m]", c.DrainDelay))
	}
	if c.DrainTimeout <= c.DrainDelay || c.DrainTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("MITOSIS_DRAIN_TIMEOUT=%s: must be above MITOSIS_DRAIN_DELAY (%s) and at most 1h", c.DrainTimeout, c.DrainDelay))
	}
	if c.ReadHeaderTimeout <= 0 {
		errs = append(errs, fmt.Errorf("MITOSIS_READ_HEADER_TIMEOUT=%s: must be > 0", c.ReadHeaderTimeout))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("MITOSIS_IDLE_TIMEOUT=%s: must be > 0", c.IdleTimeout))
	}
	if c.MaxHeaderBytes < 4096 || c.MaxHeaderBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("MITOSIS_MAX_HEADER_BYTES=%d: must be in [4096; 16777216]", c.MaxHeaderBytes))
	}
	if c.Discovery == "static" && c.Peers == "" {
		errs = append(errs, errors.New("MITOSIS_DISCOVERY=static: needs MITOSIS_PEERS"))
	}
	if c.ParentPID < 0 {
		errs = append(errs, fmt.Errorf("MITOSIS_PARENT_PID=%d: must be >= 0", c.ParentPID))
	}
	b := c.Balancer
	b.ID = c.ReplicaID
	errs = append(errs, b.Validate(), c.Health.Validate(), c.Autoscale.Validate())
	return errors.Join(errs...)
}

// print writes the effective configuration, one VAR=value a line.
func (c Config) print(w io.Writer) {
	for _, s := range settings {
		v := s.get(&c)
		if s.env == "MITOSIS_CLUSTER_TOKEN" && v != "" {
			v = "(set, hidden)"
		}
		fmt.Fprintf(w, "%s=%s\t# %s\n", s.env, v, s.help)
	}
}
