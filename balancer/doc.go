// Package balancer is the request policy of a mitosis replica, written
// once, and its net/http transport.
//
// Owns:
//
//   - the policy (policy.go): for every request, admission to a local
//     slot (at most MaxInflight in the app), sharing above ShareAbove with
//     a less loaded ready sibling (power of two choices over the expected
//     wait, pick.go), the bounded FIFO queue (admission.go), shedding with
//     503 and Retry-After, the retry rule after a failed forward (a dial
//     error is retried anywhere; after the request was sent only an
//     idempotent one without a body, within the retry budget; at most
//     maxAttempts siblings), and hop trust: a request marked with
//     X-Mitosis-Hop is a sibling's only when it comes from the address of a
//     member of the pool table and, with a token, carries it (trust.go); a
//     trusted hop is served here and never forwarded again;
//   - the net/http transport of that policy: Handler.ServeHTTP (bodies up
//     to BodyBuffer read before a slot is taken, CONNECT refused, every
//     X-Mitosis-* field removed before the app, X-Forwarded-* set by this
//     replica, a stalled response's slot given back; an HTTP/2 stream's
//     body reads and response writes bounded by BodyTimeout and
//     WriteTimeout, stream.go), and forwarding to
//     siblings with httputil.ReverseProxy over guarded connections
//     (NewTransport);
//   - the Hooks the h1 fast path calls (fastpath.go): the same decisions,
//     counted in the same metrics;
//   - the load signal siblings exchange and the autoscaler reads (signal.go)
//     and the Prometheus series of requests, queueing, shedding,
//     forwarding and delivering (metrics.go);
//   - the drain state: while draining, client requests go to siblings
//     with room, and every response closes its connection.
//
// Must not: talk to Docker or any platform, decide scaling, parse HTTP
// framing itself (h1 does, for both transports: its guard reads ahead of
// net/http), or write the texts of its own answers twice (they are h1's
// constants).
//
// A Handler is safe for concurrent use. Metrics go to the Registerer given
// to New; the clock and the random source can be injected (WithClock,
// WithRandom).
package balancer
