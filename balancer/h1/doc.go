// Package h1 is mitosis's fast HTTP/1.1 transport: a hand-written server
// and client that proxy the common case (HTTP/1.0 and 1.1, Content-Length
// or chunked framing, no upgrade, no Expect) in the client connection's
// goroutine, without allocating per request, and the guard in front of
// everything else.
//
// It decides nothing: for each request it asks Hooks.Route (the balancer's
// policy, the same one balancer.Handler applies to the requests net/http
// serves) and carries the answer out:
//
//   - Local: proxy to the app's host:port. A trusted hop keeps the
//     X-Forwarded-* its sender set and its answer carries X-Mitosis-Load
//     (Hooks.AppendLoad);
//   - Forward: proxy to a sibling's public address, with X-Mitosis-Hop
//     (Hooks.AppendHop), over a pooled keep-alive connection per sibling;
//     only a request whose body is all buffered, so that a failed try can
//     be repeated. The sibling's X-Mitosis-Load is taken off the answer and
//     handed to Hooks.Finish, which also says whether a failed try is
//     retried;
//   - Queue: wait in the balancer's queue (Hooks.Queue; a watcher on the
//     socket gives the place up when the client leaves), then proxy or
//     answer 503 (queue.go);
//   - Handoff: give the connection to the fallback.
//
// Everything the fast path does not serve is handed off, connection and
// all, to a fallback *http.Server (balancer.Handler) through an in-memory
// listener, guarded (guardConn): the guard reads the stream ahead of
// net/http and replaces any request head that checkRequest (strict.go, the
// one strict reading of RFC 9112 framing, a pure function of bytes) refuses
// with one that net/http answers 400 and closes on. With an empty
// Config.Upstream every connection is handed off at accept: the demo app's
// path gets the same checks.
//
// Deadlines: a connection's first head must be in ReadHeaderTimeout after
// accept; a body may keep the proxy waiting BodyTimeout between two reads,
// a response WriteTimeout between two writes; idle keep-alive connections
// close after IdleTimeout. The per-wait deadlines are armed only when a
// read or write has to wait for the poller (sysio_linux.go), so the common
// case pays nothing. The first write to a client that has to wait gives
// the request's slot back (Hooks.Release, or the Staller of a request
// net/http serves): the slot is held only while the app works or the
// client keeps up. At most MaxConns client connections are open; above
// that a new one gets 503 and is closed (limits.go).
//
// Bodies: one that fits the 8 KiB read buffer is read before the request
// is routed; a chunked one, or one up to BodyBuffer, goes to the fallback,
// which reads it before admission; a larger one streams. A response that
// has no body (HEAD, 1xx, 204, 304) or a declared length ends there: an
// upstream connection with bytes past that end, or that became readable
// while idle in the pool, is closed, never reused.
//
// GuardUpstream does the same for the connections net/http's Transport
// keeps to the app and to siblings (balancer.NewTransport uses it).
//
// A keep-alive connection waiting for its next request holds no buffers:
// they go back to the server's pools before it parks (conn.awaitRequest).
//
// Sockets are read and written with raw system calls inside
// syscall.RawConn (sysio_linux.go): the runtime's poller still waits for
// readiness, but a read or write does not hand the P to another thread, as
// net.Conn's would whenever a loopback write is descheduled. Before a read
// that would probably fail, the connection yields to the others, unless
// the poller has been starved for a while (yield.go).
//
// TLS: ServeTLS serves an HTTPS listener with the same Server. Each
// connection's goroutine runs the handshake (a Handshaker the caller
// gives: certificate, versions, metrics), then a connection that
// negotiated HTTP/2 goes to the fallback as the *tls.Conn net/http needs,
// and any other is served like a plain one, fast path, guard, deadlines
// and limits included, through crypto/tls; its requests carry
// X-Forwarded-Proto: https and its answers the Strict-Transport-Security
// field the caller asks for. crypto/tls reads and writes the socket under
// it through the same raw system calls (tls_linux.go), so per-wait
// deadlines and the slot given back on a stalled write hold under TLS
// too; an idle TLS connection keeps its buffers (crypto/tls may hold
// bytes read ahead).
//
// Owns: the public listeners' accept loops, the client connections it keeps,
// the pools of keep-alive connections to the app and to siblings (at most
// maxSiblingPools, unused ones dropped), and the fallback server's
// listener. Must not: decide where a request goes or whom to trust (Hooks
// do), or write a text the balancer also writes (the texts are the
// exported constants here). Server's methods are safe for concurrent use;
// a Hooks implementation must be too.
package h1
