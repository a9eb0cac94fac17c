package certs

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// httpsServer serves h over TLS with mg's certificate on a loopback port.
func httpsServer(t *testing.T, mg *Manager, m *Metrics, timeout time.Duration, h http.Handler) string {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := mg.TLSConfig()
	l := NewListener(inner, cfg, timeout, m)
	srv := &http.Server{Handler: h, TLSConfig: cfg, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return inner.Addr().String()
}

func fileManager(t *testing.T, ca *testCA, m *Metrics, names ...string) *Manager {
	t.Helper()
	now := time.Now()
	c, k := ca.issue(t, 20, now.Add(-time.Hour), now.Add(time.Hour), names...)
	cf, kf := writePair(t, t.TempDir(), c, k, time.Time{})
	cfg := DefaultConfig()
	cfg.CertFile, cfg.KeyFile = cf, kf
	mg, err := New(cfg, nil, m, quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return mg
}

func clientFor(roots *x509.CertPool, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "a.example"}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// Browsers get HTTP/2 by ALPN; a client that only speaks HTTP/1.1 gets
// HTTP/1.1; both are answered by the handler, which sees r.TLS.
func TestHTTP2AndHTTP11(t *testing.T) {
	ca := newTestCA(t)
	m, _ := newTestMetrics(t)
	mg := fileManager(t, ca, m, "a.example")
	h := HSTS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			t.Error("r.TLS is nil over HTTPS")
		}
		io.WriteString(w, "hello "+r.Proto)
	}), 3600)
	addr := httpsServer(t, mg, m, time.Second, h)
	for _, tc := range []struct {
		h2   bool
		want string
	}{{true, "HTTP/2.0"}, {false, "HTTP/1.1"}} {
		resp, err := clientFor(ca.pool, tc.h2).Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Proto != tc.want || string(b) != "hello "+tc.want {
			t.Fatalf("h2=%v: proto %s body %q; want %s", tc.h2, resp.Proto, b, tc.want)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=3600" {
			t.Fatalf("HSTS header %q; want max-age=3600", got)
		}
		if resp.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("TLS version %x", resp.TLS.Version)
		}
	}
	if got := counter(m.handshakeOK); got != 2 {
		t.Fatalf("ok handshakes %v; want 2", got)
	}
}

// Failed handshakes are counted by reason and never reach the server.
func TestHandshakeFailures(t *testing.T) {
	ca := newTestCA(t)
	m, _ := newTestMetrics(t)
	mg := fileManager(t, ca, m, "a.example")
	served := make(chan struct{}, 10)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served <- struct{}{} })
	// The timeout case has a server of its own with a short handshake
	// timeout; the others get a long one, so that a slow machine does not
	// turn their failures into timeouts.
	addr := httpsServer(t, mg, m, 30*time.Second, handler)
	quick := httpsServer(t, mg, m, 300*time.Millisecond, handler)

	dial := func(addr string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitFor := func(reason string, n float64) {
		t.Helper()
		eventually(t, 5*time.Second, reason+" counted", func() bool { return counter(m.handshakeErr[reason]) == n })
	}

	// Plain HTTP to the HTTPS port: told so, and counted as not_tls.
	c := dial(addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(line, "HTTP/1.0 400") {
		t.Fatalf("plain HTTP got %q; want a 400", line)
	}
	waitFor(reasonNotTLS, 1)

	// A client that says nothing: timeout.
	c = dial(quick)
	waitFor(reasonTimeout, 1)
	c.Close()

	// A client that hangs up after connecting: closed.
	c = dial(addr)
	c.Close()
	waitFor(reasonClosed, 1)

	// A client that does not trust the certificate: client_alert.
	_, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "a.example"})
	if err == nil {
		t.Fatal("untrusted certificate accepted")
	}
	waitFor(reasonClientAlert, 1)

	// TLS 1.1 only: no_shared.
	_, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, ServerName: "a.example", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
	waitFor(reasonNoShared, 1)

	// TLS 1.2 with a CBC suite only: no_shared.
	_, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, ServerName: "a.example", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}})
	if err == nil {
		t.Fatal("a CBC suite accepted")
	}
	waitFor(reasonNoShared, 2)

	if got := counter(m.handshakeOK); got != 0 {
		t.Fatalf("ok handshakes %v; want 0", got)
	}
	select {
	case <-served:
		t.Fatal("a failed handshake reached the handler")
	default:
	}
}

// An ACME manager without a certificate yet refuses handshakes, counted
// as no_certificate.
func TestNoCertificateYet(t *testing.T) {
	m, _ := newTestMetrics(t)
	mg := lonelyACME(t, m)
	addr := httpsServer(t, mg, m, time.Second, http.NotFoundHandler())
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		conn.Close()
		t.Fatal("handshake succeeded without a certificate")
	}
	eventually(t, 5*time.Second, "no_certificate counted", func() bool { return counter(m.handshakeErr[reasonNoCertificate]) == 1 })
}

func TestListenerClose(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := newTestMetrics(t)
	l := NewListener(inner, &tls.Config{}, time.Second, m)
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	l.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Accept after Close returned a connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}
