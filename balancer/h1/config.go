package h1

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config tunes the fast path. Start from DefaultConfig.
type Config struct {
	// Upstream is the app's host:port. Empty: no fast path; every
	// connection goes to the fallback server (guarded, see guardConn).
	Upstream string
	// ReplicaID is the value of X-Mitosis-Replica.
	ReplicaID string
	// ReplicaHeader adds X-Mitosis-Replica: ReplicaID to fast responses
	// (replacing one the app set), as balancer.Handler does.
	ReplicaHeader bool
	// ReadHeaderTimeout bounds the time from the first byte of a request
	// head to its end (default 10s). A slower client is disconnected.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a client keep-alive connection that sends no new
	// request for that long (default 120s).
	IdleTimeout time.Duration
	// DialTimeout bounds a new connection to the upstream (default 5s).
	DialTimeout time.Duration
	// MaxHeaderBytes bounds a response head read from the upstream
	// (default 1 MiB, as net/http). Request heads larger than the 8 KiB
	// read buffer go to the fallback server, which applies its own
	// MaxHeaderBytes.
	MaxHeaderBytes int
	// MaxIdleUpstream is how many idle keep-alive connections to the
	// upstream are kept (default 256). 0 keeps none.
	MaxIdleUpstream int
	// MaxIdlePerSibling is how many idle keep-alive connections to each
	// sibling requests are forwarded to are kept (default 256). It does not
	// follow MaxIdleUpstream: a replica with few local slots may forward
	// as many requests at once as it has clients.
	MaxIdlePerSibling int
}

// DefaultConfig returns the defaults documented on Config; Upstream is
// left empty.
func DefaultConfig() Config {
	return Config{
		ReplicaID:         "local",
		ReplicaHeader:     true,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		DialTimeout:       5 * time.Second,
		MaxHeaderBytes:    1 << 20,
		MaxIdleUpstream:   256,
		MaxIdlePerSibling: 256,
	}
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Upstream); err != nil && c.Upstream != "" {
		errs = append(errs, fmt.Errorf("h1 upstream %q: must be host:port or empty", c.Upstream))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read header timeout", c.ReadHeaderTimeout}, {"idle timeout", c.IdleTimeout}, {"dial timeout", c.DialTimeout}} {
		if d.v <= 0 || d.v > 24*time.Hour {
			errs = append(errs, fmt.Errorf("h1 %s %s: must be in (0s; 24h]", d.name, d.v))
		}
	}
	if c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("h1 max header bytes %d: must be in [1024; 67108864]", c.MaxHeaderBytes))
	}
	if c.MaxIdleUpstream < 0 || c.MaxIdleUpstream > 100_000 {
		errs = append(errs, fmt.Errorf("h1 max idle upstream %d: must be in [0; 100000]", c.MaxIdleUpstream))
	}
	if c.MaxIdlePerSibling < 0 || c.MaxIdlePerSibling > 100_000 {
		errs = append(errs, fmt.Errorf("h1 max idle per sibling %d: must be in [0; 100000]", c.MaxIdlePerSibling))
	}
	if c.ReplicaHeader && !validValue([]byte(c.ReplicaID)) {
		errs = append(errs, fmt.Errorf("h1 replica id %q: must be a valid header value", c.ReplicaID))
	}
	return errors.Join(errs...)
}
