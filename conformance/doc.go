// Package conformance holds the edge conformance suite of mitosis (tests
// only): it builds the mitosis binary, runs it in front of a raw upstream
// written in the tests (a TCP server that records exactly the bytes it
// received and answers with crafted bytes), sends raw bytes as hostile
// clients would, and checks what the client and the upstream each saw:
// request smuggling variants, responses without a body followed by stray
// bytes, pipelining across the fast path and the net/http path, slow
// bodies, slow readers, slowloris, connection limits, CONNECT, trailers,
// 100-continue, hop spoofing. TestSiege (MITOSIS_SIEGE=1) is the load test
// of issue 12: one replica with default settings under a mix of slow
// attacks while a normal client measures its latency.
//
// It owns no production code and must not be imported.
package conformance
