// Package demo is the app mitosis serves when no other app is configured: a
// small page naming the replica that answered, and two endpoints with a
// tunable cost for load tests. It must not depend on mitosis: it knows
// only the replica id it is given, like any app behind the proxy.
//
//	GET /            HTML page naming the replica
//	GET /work?ms=N   waits N ms (like I/O), then answers
//	GET /cpu?ms=N    burns N ms of CPU, then answers
//	GET /bytes?n=N   answers N bytes (a large download, for slow-reader tests)
//
// ms must be an integer in [0; 60000], n in [0; 1073741824]; anything else
// is a 400.
package demo
