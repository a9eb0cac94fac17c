package balancer

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/balancer/h1"
	"github.com/mitosis-run/mitosis/certs"
	"github.com/mitosis-run/mitosis/certs/certtest"
	"github.com/mitosis-run/mitosis/internal/wait"
	"github.com/mitosis-run/mitosis/pool"
)

// serveTLS serves a TLS listener on r's h1 server, with the HTTPS
// listener's own configuration and handshakes (package certs) and a
// self-signed certificate for a.example; it returns the address and a
// pool that trusts the certificate.
func serveTLS(t *testing.T, r *fastReplica) (string, *x509.CertPool) {
	t.Helper()
	cert, roots, err := certtest.New(time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "a.example")
	if err != nil {
		t.Fatal(err)
	}
	m, err := certs.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := certs.ServerTLSConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.s.ServeTLS(ln, h1.TLS{Handshaker: certs.NewHandshaker(cfg, 5*time.Second, m)}) }()
	return ln.Addr().String(), roots
}

func tlsClient(roots *x509.CertPool, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "a.example"}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestTLSPaths: on a replica's HTTPS listener an HTTP/1.1 client is
// served by the fast path and an HTTP/2 client by net/http, each with the
// same policy; the app sees X-Forwarded-Proto: https both ways, and so
// does a sibling's app when the request is forwarded (over the sibling's
// plain port), from either path.
func TestTLSPaths(t *testing.T) {
	seenB := make(chan sawHeaders, 4)
	cfgB := testConfig(4, 10, time.Second)
	cfgB.ID, cfgB.ClusterToken = "b", "tok"
	b := startFast(t, cfgB, hostOf(echoApp(t, seenB, 0)))
	seenA := make(chan sawHeaders, 4)
	sibs := &fakeSiblings{Members: []pool.Member{member("b", b.addr, 4)}}
	cfgA := testConfig(1, 10, time.Second)
	cfgA.ID, cfgA.ClusterToken, cfgA.ReplicaHeader = "a", "tok", true
	a := startFast(t, cfgA, hostOf(echoApp(t, seenA, 0)), WithSiblings(sibs, nil))
	addr, roots := serveTLS(t, a)

	get := func(h2 bool) *http.Response {
		t.Helper()
		resp, err := tlsClient(roots, h2).Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || (resp.ProtoMajor == 2) != h2 {
			t.Fatalf("h2=%v: %d over %s", h2, resp.StatusCode, resp.Proto)
		}
		return resp
	}
	for _, h2 := range []bool{false, true} {
		before := a.fallback.Load()
		allFree(t, a)
		if r := get(h2); r.Header.Get(ReplicaHeader) != "a" {
			t.Fatalf("h2=%v: answered by %q, want a", h2, r.Header.Get(ReplicaHeader))
		}
		if s := <-seenA; s.xfp != "https" || s.xff != "127.0.0.1" {
			t.Errorf("h2=%v: the app saw %+v, want X-Forwarded-Proto https", h2, s)
		}
		if n := a.fallback.Load() - before; (n == 1) != h2 {
			t.Errorf("h2=%v: net/http served %d requests; want the fast path for HTTP/1.1 only", h2, n)
		}
	}

	// a's only slot is taken: both paths forward to b.
	allFree(t, a)
	holdSlot(t, a)
	for _, h2 := range []bool{false, true} {
		if r := get(h2); r.Header.Get(ReplicaHeader) != "b" {
			t.Fatalf("h2=%v: answered by %q, want b", h2, r.Header.Get(ReplicaHeader))
		}
		if s := <-seenB; s.xfp != "https" || s.xff != "127.0.0.1" || s.hop != "" {
			t.Errorf("h2=%v: b's app saw %+v, want a's X-Forwarded-Proto https", h2, s)
		}
	}
	if n := b.fallback.Load(); n != 0 {
		t.Errorf("b served %d hops through net/http, want the fast path", n)
	}
}

// allFree waits until r's slots are all free: a client has its whole
// answer a moment before the server gives the request's slot back, so a
// test that needs the slot for its next request waits for it.
func allFree(t *testing.T, r *fastReplica) {
	t.Helper()
	if !wait.Until(5*time.Second, time.Millisecond, func() bool { return r.h.Load().Inflight == 0 }) {
		t.Fatalf("%d requests still in flight", r.h.Load().Inflight)
	}
}
