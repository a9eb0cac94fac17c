// Package h1 is mitosis's fast HTTP/1.1 path: a hand-written server and
// client that proxy the common case (HTTP/1.0 and 1.1, Content-Length or
// chunked framing, no upgrade, no Expect) in the client connection's
// goroutine, without allocating per request, to one of:
//
//   - the local app's host:port, when Hooks.Route (a client request) or
//     Hooks.TryAcquireHop (a trusted hop from a sibling) gave a local slot;
//     a hop keeps the X-Forwarded-* its sender set and its answer carries
//     X-Mitosis-Load (Hooks.AppendLoad);
//   - a sibling's public address, when Hooks.Route says Forward: the
//     request (only one whose body is already all buffered, so that a
//     failed try can be repeated) goes with X-Mitosis-Hop over a pooled
//     keep-alive connection per sibling; the sibling's X-Mitosis-Load is
//     taken off the answer and handed to Hooks.Forwarded, which also says
//     whether a failed try is retried. The balancer makes every decision;
//     this package only carries them out.
//
// A request that finds no slot and no sibling (Route says Queue, or a hop
// gets no slot) waits in the balancer's queue (Hooks.Queue) and is then
// proxied to the app or answered 503 (queue.go), on the fast path; a
// watcher on the socket gives the place up when the client leaves.
//
// Everything else is handed off, connection and all, to a fallback
// *http.Server (the full balancer.Handler) through an in-memory listener:
// the bytes already read are replayed first, and the connection stays with
// net/http for the rest of its life. net/http therefore decides every case
// this package does not understand, including the 400 and 431 answers to
// malformed or oversized request heads, and requests with a body that is
// not all buffered when they find no slot (net/http can forward those).
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
// Owns: the public listener's accept loop, the client connections it keeps,
// the pools of keep-alive connections to the app and to siblings (at most
// maxSiblingPools, unused ones dropped), and the fallback server's
// listener. Server's methods are safe for concurrent use; a Hooks
// implementation must be too (it is called from every connection's
// goroutine).
package h1
