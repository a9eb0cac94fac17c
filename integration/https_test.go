package integration

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/certs/certtest"
)

// writeCert writes a self-signed certificate for names into dir.
func writeCert(t *testing.T, dir string, nb, na time.Time, names ...string) (string, string, *x509.CertPool) {
	t.Helper()
	cf, kf, roots, err := certtest.Write(dir, nb, na, names...)
	if err != nil {
		t.Fatal(err)
	}
	return cf, kf, roots
}

// echoUpstream answers with the scheme the front end reports and the
// replica the request reached; /slow holds its slot until release closes.
func echoUpstream(t *testing.T) (url string, release func()) {
	t.Helper()
	ch := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
			}
		}
		fmt.Fprintf(w, "proto=%s path=%s", r.Header.Get("X-Forwarded-Proto"), r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	var once sync.Once
	return srv.URL, func() { once.Do(func() { close(ch) }) }
}

// Through a replica: HTTP/2 over TLS and HTTP/1.1 over TLS get the app's
// answer with X-Forwarded-Proto: https, also when the request is
// forwarded to a sibling's plain port; the redirect listener redirects;
// plain HTTP is still served; SIGTERM drains HTTPS too.
func TestHTTPSThroughReplica(t *testing.T) {
	integration(t)
	dir := t.TempDir()
	now := time.Now()
	cf, kf, roots := writeCert(t, dir, now.Add(-time.Hour), now.Add(time.Hour), "a.example")
	upstream, release := echoUpstream(t)
	defer release()
	httpsAddr, redirAddr := freeAddr(t), freeAddr(t)
	common := []string{"MITOSIS_UPSTREAM=" + upstream, "MITOSIS_CLUSTER_TOKEN=tok", "MITOSIS_TARGET_CONCURRENCY=1"}
	ps := startCluster(t, []string{"a", "b"}, common, map[string][]string{"a": {
		"MITOSIS_TLS_CERT=" + cf, "MITOSIS_TLS_KEY=" + kf, "MITOSIS_TLS_LISTEN=" + httpsAddr,
		"MITOSIS_HTTP_REDIRECT=" + redirAddr, "MITOSIS_HSTS=8760h",
	}})
	a := ps[0]

	client := func(h2 bool) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "a.example"}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		return &http.Client{Transport: tr, Timeout: 15 * time.Second}
	}
	call := func(c *http.Client, path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get("https://" + httpsAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for _, tc := range []struct {
		h2    bool
		proto string
	}{{true, "HTTP/2.0"}, {false, "HTTP/1.1"}} {
		resp, body := call(client(tc.h2), "/hello")
		if resp.Proto != tc.proto || body != "proto=https path=/hello" || resp.Header.Get("X-Mitosis-Replica") != "a" {
			t.Fatalf("h2=%v: %s %q from %q; want %s, the app's answer with proto=https, from a", tc.h2, resp.Proto, body, resp.Header.Get("X-Mitosis-Replica"), tc.proto)
		}
		if resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
			t.Fatalf("HSTS %q", resp.Header.Get("Strict-Transport-Security"))
		}
	}
	// On an HTTP/1.1 connection, a request the fast path hands to net/http
	// (a chunked body) is still https, with HSTS.
	req, err := http.NewRequest("POST", "https://"+httpsAddr+"/chunked", io.NopCloser(strings.NewReader("body")))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client(false).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "proto=https path=/chunked" || resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Fatalf("handed off: %q, HSTS %q", b, resp.Header.Get("Strict-Transport-Security"))
	}
	// Plain HTTP on MITOSIS_LISTEN is served as before, as http.
	if code, body, err := get(a.pubURL("/plain"), nil); err != nil || code != 200 || body != "proto=http path=/plain" {
		t.Fatalf("plain: %d %q %v", code, body, err)
	}

	// Forwarded: with one request holding a's share (target concurrency
	// 1), the next goes to b over b's plain port, and the app still sees
	// https.
	h2 := client(true)
	slow := make(chan string, 1)
	go func() { _, b := call(h2, "/slow"); slow <- b }()
	waitFor(t, 5*time.Second, "a has the slow request in flight", func() bool {
		s, err := a.state(nil)
		return err == nil && s.Inflight == 1
	})
	waitFor(t, 5*time.Second, "a request forwarded to b", func() bool {
		resp, body := call(h2, "/fwd")
		if resp.Header.Get("X-Mitosis-Replica") != "b" {
			return false
		}
		if body != "proto=https path=/fwd" {
			t.Fatalf("forwarded: %q; want proto=https", body)
		}
		return true
	})
	release()
	if b := <-slow; b != "proto=https path=/slow" {
		t.Fatalf("slow: %q", b)
	}

	// The redirect listener redirects and proxies nothing.
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get("http://" + redirAddr + "/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://127.0.0.1:" + strings.Split(httpsAddr, ":")[1] + "/x?y=1"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("redirect: %d %q; want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	m, err := a.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m[`mitosis_tls_handshakes_total{reason="",result="ok"}`] < 2 || m[`mitosis_tls_certificate_expiry_seconds{name="a.example"}`] != float64(now.Add(time.Hour).Unix()) {
		t.Fatalf("TLS metrics: handshakes ok %v, expiry %v", m[`mitosis_tls_handshakes_total{reason="",result="ok"}`], m[`mitosis_tls_certificate_expiry_seconds{name="a.example"}`])
	}

	// SIGTERM: the replica drains, HTTPS included, and exits 0.
	a.signal(syscall.SIGTERM)
	if code := a.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM; want 0", code)
	}
}
