package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/wait"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testCA issues certificates for tests.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mitosis test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	p := x509.NewCertPool()
	p.AddCert(c)
	return &testCA{key: k, cert: c, pool: p}
}

// issue returns a PEM leaf certificate and PEM key for names, valid from nb
// to na.
func (ca *testCA) issue(t *testing.T, serial int64, nb, na time.Time, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

// writePair writes cert and key (a nil one is left as it is) into dir and
// returns their paths. mod, if not zero, is set as the files' modification
// time.
func writePair(t *testing.T, dir string, certPEM, keyPEM []byte, mod time.Time) (string, string) {
	t.Helper()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		p string
		b []byte
	}{{cf, certPEM}, {kf, keyPEM}} {
		if f.b == nil {
			continue
		}
		// Written aside and renamed: the reloader never reads half a
		// file (what TestReload tries is half a pair).
		tmp := f.p + ".tmp"
		if err := os.WriteFile(tmp, f.b, 0o600); err != nil {
			t.Fatal(err)
		}
		if !mod.IsZero() {
			if err := os.Chtimes(tmp, mod, mod); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Rename(tmp, f.p); err != nil {
			t.Fatal(err)
		}
	}
	return cf, kf
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testLogger logs into the test's output (with -v).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestMetrics(t *testing.T) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func counter(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !wait.Until(d, 10*time.Millisecond, cond) {
		t.Fatalf("timed out after %s waiting for: %s", d, what)
	}
}

// lonelyACME is an ACME manager without siblings or CA, for handlers.
func lonelyACME(t *testing.T, m *Metrics) *Manager {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Domains, cfg.RedirectListen = []string{"a.example"}, ":0"
	mg, err := New(cfg, nil, m, quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return mg
}
