package h1

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Config tunes the fast path. Start from DefaultConfig.
type Config struct {
	// Upstream is the app's host:port. Empty: no fast path; every
	// connection goes to the fallback server (guarded, see guardConn).
	Upstream string
	// ReplicaID is the value of the Fields.Replica field.
	ReplicaID string
	// ReplicaHeader adds Fields.Replica: ReplicaID to fast responses
	// (replacing one the app set), as balancer.Handler does. It needs
	// Fields.Replica.
	ReplicaHeader bool
	// Fields names the private header fields the replicas speak between
	// themselves (balancer gives mitosis's). Zero: none.
	Fields Fields
	// ReadHeaderTimeout bounds the time from the first byte of a request
	// head to its end (default 10s). A slower client is disconnected.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a client keep-alive connection that sends no new
	// request for that long (default 120s).
	IdleTimeout time.Duration
	// BodyTimeout is the longest a request body may keep the proxy
	// waiting for its next bytes (default 60s, nginx's
	// client_body_timeout): it bounds the time between two reads, not the
	// whole upload. A slower client gets 408 and a closed connection.
	BodyTimeout time.Duration
	// WriteTimeout is the longest a client may leave a response unread
	// before its connection is closed (default 60s, nginx's send_timeout):
	// it too bounds the time between two writes that make progress.
	WriteTimeout time.Duration
	// BodyBuffer is the largest request body read in full before the
	// request takes a slot (default 1 MiB): a client that announces a body
	// and sends it slowly holds no slot meanwhile. The fast path reads
	// bodies that fit its 8 KiB read buffer itself and hands larger ones up
	// to BodyBuffer (and chunked ones) to the fallback, whose handler reads
	// them (balancer.Config.BodyBuffer); a larger body streams to the app
	// as it arrives, within BodyTimeout.
	BodyBuffer int64
	// MaxConns is the most client connections kept open at once, on the
	// fast path and handed off (default 10,000). A connection above it
	// gets 503 with Connection: close at once and is closed; see
	// CheckFileLimit for the descriptors it needs.
	MaxConns int
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

// Fields are the names of the private header fields, all starting with
// Prefix (which marks the others: none reaches the app from a client, and
// they pass between replicas only): Hop marks a request forwarded by a
// sibling, Token carries the token of a hop, Load a hop's load figure on
// its answer, Replica the replica that answered.
type Fields struct {
	Prefix, Hop, Token, Load, Replica string
}

func (f Fields) validate() error {
	if f == (Fields{}) {
		return nil
	}
	for _, n := range []string{f.Hop, f.Token, f.Load, f.Replica} {
		if f.Prefix == "" || !validToken([]byte(n)) || !strings.HasPrefix(strings.ToLower(n), strings.ToLower(f.Prefix)) {
			return fmt.Errorf("h1 fields %+v: each must be a token starting with the prefix", f)
		}
	}
	return nil
}

// DefaultConfig returns the defaults documented on Config; Upstream is
// left empty, and Fields (the caller's names).
func DefaultConfig() Config {
	return Config{
		ReplicaID:         "local",
		ReplicaHeader:     false,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BodyTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		BodyBuffer:        1 << 20,
		MaxConns:          10_000,
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
	}{
		{"read header timeout", c.ReadHeaderTimeout}, {"idle timeout", c.IdleTimeout}, {"dial timeout", c.DialTimeout},
		{"body timeout", c.BodyTimeout}, {"write timeout", c.WriteTimeout},
	} {
		if d.v <= 0 || d.v > 24*time.Hour {
			errs = append(errs, fmt.Errorf("h1 %s %s: must be in (0s; 24h]", d.name, d.v))
		}
	}
	if c.MaxHeaderBytes < 1024 || c.MaxHeaderBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("h1 max header bytes %d: must be in [1024; 67108864]", c.MaxHeaderBytes))
	}
	if c.BodyBuffer < 0 || c.BodyBuffer > 1<<30 {
		errs = append(errs, fmt.Errorf("h1 body buffer %d: must be in [0; 1073741824]", c.BodyBuffer))
	}
	if c.MaxConns < 1 || c.MaxConns > 10_000_000 {
		errs = append(errs, fmt.Errorf("h1 max conns %d: must be in [1; 10000000]", c.MaxConns))
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
	if c.ReplicaHeader && c.Fields.Replica == "" {
		errs = append(errs, errors.New("h1 replica header: needs Fields.Replica"))
	}
	if err := c.Fields.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
