// Package libuse is what another Go module does with mitosis as a library:
// it wraps its own http.Handler with balancer.New to get admission
// control, a bounded queue and shedding with Retry-After. It lives in a
// module of its own (with a replace directive pointing at this checkout),
// so CI proves the import path works from outside the repository.
package libuse

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/balancer"
)

// Wrap puts app behind a balancer that runs at most maxInflight requests
// at once and queues at most queueMax more, registering its metrics on reg.
func Wrap(app http.Handler, maxInflight, queueMax int, reg prometheus.Registerer) (http.Handler, error) {
	cfg := balancer.DefaultConfig()
	cfg.ID = "libuse"
	cfg.MaxInflight = maxInflight
	cfg.QueueMax = queueMax
	cfg.QueueTimeout = time.Second
	return balancer.New(cfg, app, reg)
}
