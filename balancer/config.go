package balancer

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is the balancer's part of the configuration. The zero value is not
// usable; start from DefaultConfig.
type Config struct {
	// ID names this replica in X-Mitosis-Replica, the hop header and state.
	ID string
	// MaxInflight is how many requests may be inside the app at once
	// (MITOSIS_MAX_INFLIGHT, default 100).
	MaxInflight int
	// ShareAbove is the local in-flight count from which a new request goes
	// to a less loaded ready sibling, if there is one, instead of taking a
	// local slot; up to MaxInflight it is still served here when no sibling
	// is less loaded. It spreads load over the replicas the autoscaler
	// started even when all traffic enters through one of them. 0 means
	// MaxInflight: forward only what does not fit here. The mitosis command
	// sets it to MITOSIS_TARGET_CONCURRENCY.
	ShareAbove int
	// QueueMax is how many requests may wait for a slot (MITOSIS_QUEUE_MAX,
	// default 1000). 0 sheds at once when every slot is taken.
	QueueMax int
	// QueueTimeout is the longest a request waits for a slot before it is
	// shed with 503 (MITOSIS_QUEUE_TIMEOUT, default 5s).
	QueueTimeout time.Duration
	// ReplicaHeader adds X-Mitosis-Replica to every response served here
	// (MITOSIS_REPLICA_HEADER, default true).
	ReplicaHeader bool
	// ClusterToken, when set, must accompany a hop header; a hop header
	// without it is ignored (MITOSIS_CLUSTER_TOKEN, default empty).
	ClusterToken string
	// RetryBudget is the share of extra requests that retries of already
	// sent requests may add (default 0.2: at most 20% more).
	RetryBudget float64
	// RetryAfter is the Retry-After value sent with 503 (seconds, default 1).
	RetryAfter int
	// BodyBuffer is the largest request body read in full before the
	// request takes a slot or goes to a sibling (MITOSIS_BODY_BUFFER,
	// default 1 MiB): a client that announces a body and sends it slowly
	// holds no slot meanwhile, and a buffered body can be sent again to
	// another sibling. A larger body streams as it arrives. 0: none is
	// buffered.
	BodyBuffer int
	// ForwardOnly makes the handler a front that serves nothing itself:
	// every request goes to a ready sibling, as a hop, the one with the
	// lowest expected wait (one at its capacity is still a choice: it
	// queues the hop), and is retried on another by the usual rule; with
	// no sibling to take it, it waits for one up to QueueTimeout, then
	// 503 (on the net/http path: the fast path hands such a request
	// over). The app is never called and no hop is trusted. The entry
	// role of the mitosis command sets it (MITOSIS_ROLE=entry).
	ForwardOnly bool
	// BodyTimeout and WriteTimeout bound the requests of HTTP/2 clients,
	// which net/http serves stream by stream: the longest one read of a
	// request body may wait for the client, and one write of a response
	// (MITOSIS_BODY_TIMEOUT and MITOSIS_WRITE_TIMEOUT, default 60s each).
	// A stream that waits longer is reset. HTTP/1.1 connections get the
	// same bounds from balancer/h1. 0: no bound.
	BodyTimeout, WriteTimeout time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		ID:            "local",
		MaxInflight:   100,
		QueueMax:      1000,
		QueueTimeout:  5 * time.Second,
		ReplicaHeader: true,
		RetryBudget:   0.2,
		RetryAfter:    1,
		BodyBuffer:    1 << 20,
		BodyTimeout:   60 * time.Second,
		WriteTimeout:  60 * time.Second,
	}
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("MITOSIS_REPLICA_ID is empty: must name the replica"))
	}
	// Both travel in header fields of forwarded requests (the fast path
	// writes them verbatim).
	if strings.ContainsAny(c.ID, "\r\n\x00") {
		errs = append(errs, fmt.Errorf("MITOSIS_REPLICA_ID=%q: must not contain CR, LF or NUL", c.ID))
	}
	if strings.ContainsAny(c.ClusterToken, "\r\n\x00") {
		errs = append(errs, errors.New("MITOSIS_CLUSTER_TOKEN: must not contain CR, LF or NUL"))
	}
	if c.MaxInflight < 1 || c.MaxInflight > 1_000_000 {
		errs = append(errs, fmt.Errorf("MITOSIS_MAX_INFLIGHT=%d: must be in [1; 1000000]", c.MaxInflight))
	}
	if c.ShareAbove < 0 {
		errs = append(errs, fmt.Errorf("share-above %d: must be >= 0", c.ShareAbove))
	}
	if c.QueueMax < 0 || c.QueueMax > 10_000_000 {
		errs = append(errs, fmt.Errorf("MITOSIS_QUEUE_MAX=%d: must be in [0; 10000000]", c.QueueMax))
	}
	if c.QueueTimeout <= 0 || c.QueueTimeout > time.Hour {
		errs = append(errs, fmt.Errorf("MITOSIS_QUEUE_TIMEOUT=%s: must be in (0s; 1h]", c.QueueTimeout))
	}
	if c.RetryBudget < 0 || c.RetryBudget > 1 {
		errs = append(errs, fmt.Errorf("retry budget %g: must be in [0; 1]", c.RetryBudget))
	}
	if c.BodyBuffer < 0 || c.BodyBuffer > 1<<30 {
		errs = append(errs, fmt.Errorf("MITOSIS_BODY_BUFFER=%d: must be in [0; 1073741824]", c.BodyBuffer))
	}
	if c.BodyTimeout < 0 || c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("body timeout %s, write timeout %s: must be >= 0", c.BodyTimeout, c.WriteTimeout))
	}
	if c.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("retry-after %d: must be >= 0", c.RetryAfter))
	}
	return errors.Join(errs...)
}
