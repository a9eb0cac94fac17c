package guard

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

// Config is the guard's settings (MITOSIS_GUARD_* variables, plus the
// shared MITOSIS_LOG_LEVEL and MITOSIS_LOG_FORMAT).
type Config struct {
	// Listen is the capability API's address (MITOSIS_GUARD_LISTEN,
	// default ":7070"). It serves /guard/v1/..., /healthz and /metrics;
	// never publish it.
	Listen string
	// TokenFile holds the shared secret (MITOSIS_GUARD_TOKEN_FILE, default
	// /run/secrets/mitosis_guard_token: a Docker secret). Replicas read the
	// same file.
	TokenFile string
	// Label marks the services whose tasks may call ("key=value" or
	// "key"; MITOSIS_GUARD_LABEL, default mitosis.guard=true).
	Label string
	// Images is the allow-list of function images, compared exactly
	// (MITOSIS_GUARD_IMAGES, comma-separated; default empty: no runs).
	Images []string
	// Network is the one network function containers join
	// (MITOSIS_GUARD_NETWORK; default empty: none at all).
	Network string
	// RunTimeout is the longest run and the timeout of a run that names
	// none (MITOSIS_GUARD_RUN_TIMEOUT, default 5m).
	RunTimeout time.Duration
	// Runs is how many runs one service may have at once
	// (MITOSIS_GUARD_RUNS, default 4).
	Runs int
	// ScalesPerMinute is how many scale calls one service may make a
	// minute, in bursts of up to a sixth of it (MITOSIS_GUARD_SCALES_PER_MINUTE,
	// default 30: one every 2 s tick).
	ScalesPerMinute int
	// ReadsPerSecond is how many status and whoami calls one service may
	// make a second, in bursts of up to twice that
	// (MITOSIS_GUARD_READS_PER_SECOND, default 50).
	ReadsPerSecond int
	// HardCap is the most replicas the guard grants any service, whatever
	// its own MITOSIS_MAX_REPLICAS says (MITOSIS_GUARD_HARD_CAP, default 100).
	HardCap int
	// CacheTTL is how long the map from task addresses to services is
	// trusted (MITOSIS_GUARD_CACHE_TTL, default 10s); an unknown address
	// refreshes it, at most once per RefreshEvery.
	CacheTTL time.Duration
	// RefreshEvery is the shortest time between two refreshes of the map
	// (default 1s, not a variable).
	RefreshEvery time.Duration

	LogLevel  slog.Level
	LogFormat string
}

// DefaultConfig returns the defaults listed in README.md.
func DefaultConfig() Config {
	return Config{
		Listen:          ":7070",
		TokenFile:       spawner.DefaultGuardTokenFile,
		Label:           "mitosis.guard=true",
		RunTimeout:      5 * time.Minute,
		Runs:            4,
		ScalesPerMinute: 30,
		ReadsPerSecond:  50,
		HardCap:         100,
		CacheTTL:        10 * time.Second,
		RefreshEvery:    time.Second,
		LogLevel:        slog.LevelInfo,
		LogFormat:       "text",
	}
}

// Validate reports every setting out of range, each naming its variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(env string, v any, rule string) {
		errs = append(errs, fmt.Errorf("%s=%v: %s", env, v, rule))
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("MITOSIS_GUARD_LISTEN", strconv.Quote(c.Listen), "must be host:port or :port")
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		bad("MITOSIS_GUARD_LISTEN", strconv.Quote(c.Listen), "port must be in [1; 65535]")
	}
	if c.TokenFile == "" {
		bad("MITOSIS_GUARD_TOKEN_FILE", `""`, "must name the file holding the shared secret")
	}
	if k, _, _ := strings.Cut(c.Label, "="); k == "" || strings.ContainsAny(c.Label, " ,") {
		bad("MITOSIS_GUARD_LABEL", strconv.Quote(c.Label), "must be key or key=value, without blanks or commas")
	}
	for _, img := range c.Images {
		if img == "" || strings.ContainsAny(img, " \t") {
			bad("MITOSIS_GUARD_IMAGES", strconv.Quote(strings.Join(c.Images, ",")), "must be image references separated by commas")
			break
		}
	}
	if c.Network == "host" || strings.HasPrefix(c.Network, "container:") || strings.ContainsAny(c.Network, " ,:/") {
		bad("MITOSIS_GUARD_NETWORK", strconv.Quote(c.Network), "must be a network name (not host, not container:...)")
	}
	if c.RunTimeout < time.Second || c.RunTimeout > 24*time.Hour {
		bad("MITOSIS_GUARD_RUN_TIMEOUT", c.RunTimeout, "must be in [1s; 24h]")
	}
	if c.Runs < 0 || c.Runs > 1000 {
		bad("MITOSIS_GUARD_RUNS", c.Runs, "must be in [0; 1000]")
	}
	if c.ScalesPerMinute < 1 || c.ScalesPerMinute > 6000 {
		bad("MITOSIS_GUARD_SCALES_PER_MINUTE", c.ScalesPerMinute, "must be in [1; 6000]")
	}
	if c.ReadsPerSecond < 1 || c.ReadsPerSecond > 100000 {
		bad("MITOSIS_GUARD_READS_PER_SECOND", c.ReadsPerSecond, "must be in [1; 100000]")
	}
	if c.HardCap < 1 || c.HardCap > 10000 {
		bad("MITOSIS_GUARD_HARD_CAP", c.HardCap, "must be in [1; 10000]")
	}
	if c.CacheTTL < 100*time.Millisecond || c.CacheTTL > 10*time.Minute {
		bad("MITOSIS_GUARD_CACHE_TTL", c.CacheTTL, "must be in [100ms; 10m]")
	}
	if c.RefreshEvery <= 0 || c.RefreshEvery > c.CacheTTL {
		errs = append(errs, fmt.Errorf("guard: refresh interval %s must be in (0; MITOSIS_GUARD_CACHE_TTL]", c.RefreshEvery))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("MITOSIS_LOG_FORMAT", strconv.Quote(c.LogFormat), "must be text or json")
	}
	return errors.Join(errs...)
}

// Variables lists the variables the guard reads, for the configuration
// table and `mitosis guard config`.
var Variables = []string{
	"MITOSIS_GUARD_LISTEN", "MITOSIS_GUARD_TOKEN_FILE", "MITOSIS_GUARD_LABEL", "MITOSIS_GUARD_IMAGES",
	"MITOSIS_GUARD_NETWORK", "MITOSIS_GUARD_RUN_TIMEOUT", "MITOSIS_GUARD_RUNS", "MITOSIS_GUARD_SCALES_PER_MINUTE",
	"MITOSIS_GUARD_READS_PER_SECOND", "MITOSIS_GUARD_HARD_CAP", "MITOSIS_GUARD_CACHE_TTL",
	"MITOSIS_LOG_LEVEL", "MITOSIS_LOG_FORMAT",
}

// FromEnv reads the guard's variables from environ over the defaults and
// validates the result; every problem is reported at once.
func FromEnv(environ []string) (Config, error) {
	c := DefaultConfig()
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && slices.Contains(Variables, k) {
			env[k] = v
		}
	}
	var errs []error
	str := func(k string, p *string) {
		if v, ok := env[k]; ok {
			*p = strings.TrimSpace(v)
		}
	}
	num := func(k string, p *int) {
		if v, ok := env[k]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: must be a whole number", k, v))
				return
			}
			*p = n
		}
	}
	dur := func(k string, p *time.Duration) {
		if v, ok := env[k]; ok {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: must be a Go duration such as 30s or 5m", k, v))
				return
			}
			*p = d
		}
	}
	str("MITOSIS_GUARD_LISTEN", &c.Listen)
	str("MITOSIS_GUARD_TOKEN_FILE", &c.TokenFile)
	str("MITOSIS_GUARD_LABEL", &c.Label)
	if v, ok := env["MITOSIS_GUARD_IMAGES"]; ok {
		c.Images = nil
		for _, img := range strings.Split(v, ",") {
			if img = strings.TrimSpace(img); img != "" {
				c.Images = append(c.Images, img)
			}
		}
	}
	str("MITOSIS_GUARD_NETWORK", &c.Network)
	dur("MITOSIS_GUARD_RUN_TIMEOUT", &c.RunTimeout)
	num("MITOSIS_GUARD_RUNS", &c.Runs)
	num("MITOSIS_GUARD_SCALES_PER_MINUTE", &c.ScalesPerMinute)
	num("MITOSIS_GUARD_READS_PER_SECOND", &c.ReadsPerSecond)
	num("MITOSIS_GUARD_HARD_CAP", &c.HardCap)
	dur("MITOSIS_GUARD_CACHE_TTL", &c.CacheTTL)
	if v, ok := env["MITOSIS_LOG_LEVEL"]; ok {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			errs = append(errs, fmt.Errorf("MITOSIS_LOG_LEVEL=%q: must be debug, info, warn or error", v))
		}
	}
	str("MITOSIS_LOG_FORMAT", &c.LogFormat)
	errs = append(errs, c.Validate())
	return c, errors.Join(errs...)
}
