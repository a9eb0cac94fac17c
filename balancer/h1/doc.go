// Package h1 is mitosis's fast HTTP/1.1 path for requests served by the
// local app: a hand-written server and client that proxy the common case
// (HTTP/1.0 and 1.1, Content-Length or chunked framing, no upgrade, no
// Expect, no hop from a sibling, a local slot free) straight to the app's
// host:port, in the client connection's goroutine, without allocating per
// request.
//
// Everything else is handed off, connection and all, to a fallback
// *http.Server (the full balancer.Handler) through an in-memory listener:
// the bytes already read are replayed first, and the connection stays with
// net/http for the rest of its life. net/http therefore decides every case
// this package does not understand, including the 400 and 431 answers to
// malformed or oversized request heads.
//
// Owns: the public listener's accept loop, the client connections it keeps,
// the pool of keep-alive connections to the app, and the fallback server's
// listener. Server's methods are safe for concurrent use; a Hooks
// implementation must be too (TryAcquire and Done are called from every
// connection's goroutine).
package h1
