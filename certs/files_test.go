package certs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadFilesBadInput(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	good, goodKey := ca.issue(t, 2, now.Add(-time.Hour), now.Add(time.Hour), "a.example")
	_, otherKey := ca.issue(t, 3, now.Add(-time.Hour), now.Add(time.Hour), "a.example")
	expired, expiredKey := ca.issue(t, 4, now.Add(-48*time.Hour), now.Add(-time.Hour), "old.example")

	cases := []struct {
		name      string
		cert, key []byte
		certPath  string // overrides the written file
		keyPath   string
		wantVar   string
		wantText  string
	}{
		{name: "ok", cert: good, key: goodKey},
		{name: "missing cert", cert: good, key: goodKey, certPath: "missing.pem", wantVar: "MITOSIS_TLS_CERT", wantText: "cannot read the certificate"},
		{name: "missing key", cert: good, key: goodKey, keyPath: "missing-key.pem", wantVar: "MITOSIS_TLS_KEY", wantText: "cannot read the private key"},
		{name: "unreadable cert (a directory)", cert: good, key: goodKey, certPath: ".", wantVar: "MITOSIS_TLS_CERT", wantText: "cannot read"},
		{name: "key of another certificate", cert: good, key: otherKey, wantVar: "MITOSIS_TLS_KEY", wantText: "does not match the certificate"},
		{name: "expired", cert: expired, key: expiredKey, wantVar: "MITOSIS_TLS_CERT", wantText: "expired on"},
		{name: "not PEM", cert: []byte("hello"), key: goodKey, wantVar: "MITOSIS_TLS_CERT", wantText: "no PEM CERTIFICATE"},
		{name: "key not PEM", cert: good, key: []byte("hello"), wantVar: "MITOSIS_TLS_KEY", wantText: "no PEM private key"},
		{name: "cert and key swapped", cert: goodKey, key: good, wantVar: "MITOSIS_TLS_CERT", wantText: "no PEM CERTIFICATE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cf, kf := writePair(t, dir, tc.cert, tc.key, time.Time{})
			if tc.certPath != "" {
				cf = filepath.Join(dir, tc.certPath)
			}
			if tc.keyPath != "" {
				kf = filepath.Join(dir, tc.keyPath)
			}
			c, err := LoadFiles(cf, kf, now)
			if tc.wantVar == "" {
				if err != nil || c == nil || c.Leaf.DNSNames[0] != "a.example" {
					t.Fatalf("LoadFiles = %v, %v; want the certificate", c, err)
				}
				return
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v; want a *FileError", err)
			}
			file := kf
			if tc.wantVar == "MITOSIS_TLS_CERT" {
				file = cf
			}
			if fe.Var != tc.wantVar || fe.File != file || !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), file) {
				t.Fatalf("err = %q (var %s, file %s); want %s naming %s and saying %q", err, fe.Var, fe.File, tc.wantVar, file, tc.wantText)
			}
			// The same problem stops New (and so start-up).
			cfg := DefaultConfig()
			cfg.CertFile, cfg.KeyFile = cf, kf
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate = %v; want nil (it does not read files)", err)
			}
			_, err = New(cfg, nil, nil, quietLog(), func() time.Time { return now })
			if !errors.As(err, &fe) || fe.Var != tc.wantVar {
				t.Fatalf("New = %v; want a *FileError naming %s", err, tc.wantVar)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func(c *Config) {}
	cases := []struct {
		name string
		mod  func(c *Config)
		want string // "" = valid
	}{
		{"off", ok, ""},
		{"redirect without TLS", func(c *Config) { c.RedirectListen = ":8081" }, "MITOSIS_HTTP_REDIRECT"},
		{"key without cert", func(c *Config) { c.KeyFile = "k.pem" }, "MITOSIS_TLS_KEY=\"k.pem\": needs MITOSIS_TLS_CERT"},
		{"cert without key", func(c *Config) { c.CertFile = "c.pem" }, "MITOSIS_TLS_CERT=\"c.pem\": needs MITOSIS_TLS_KEY"},
		{"files and domains", func(c *Config) {
			c.CertFile, c.KeyFile, c.Domains, c.RedirectListen = "c", "k", []string{"a.example"}, ":8081"
		}, "not both"},
		{"acme", func(c *Config) { c.Domains, c.RedirectListen = []string{"a.example"}, ":8081" }, ""},
		{"acme without redirect", func(c *Config) { c.Domains = []string{"a.example"} }, "needs MITOSIS_HTTP_REDIRECT"},
		{"acme over http", func(c *Config) {
			c.Domains, c.RedirectListen, c.CA = []string{"a.example"}, ":8081", "http://ca.example/dir"
		}, "MITOSIS_ACME_CA"},
		{"bad email", func(c *Config) {
			c.Domains, c.RedirectListen, c.Email = []string{"a.example"}, ":8081", "ops at example"
		}, "MITOSIS_ACME_EMAIL"},
		{"store without acme", func(c *Config) { c.StoreDir = "/tmp/x" }, "MITOSIS_TLS_STORE"},
		{"bad listen", func(c *Config) { c.Domains, c.RedirectListen, c.Listen = []string{"a.example"}, ":8081", "8443" }, "MITOSIS_TLS_LISTEN"},
		{"hsts negative", func(c *Config) { c.HSTS = -time.Second }, "MITOSIS_HSTS"},
		{"hsts below a second", func(c *Config) { c.HSTS = time.Millisecond }, "MITOSIS_HSTS"},
		{"hsts year", func(c *Config) { c.HSTS = 8760 * time.Hour }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v; want %q", err, tc.want)
			}
		})
	}
}

func TestParseDomains(t *testing.T) {
	got, err := ParseDomains(" A.example, b.example,a.example ,")
	if err != nil || strings.Join(got, ",") != "a.example,b.example" {
		t.Fatalf("ParseDomains = %v, %v", got, err)
	}
	for _, bad := range []string{"*.example.com", "localhost", "10.0.0.1", "a..example", "-a.example", "a_b.example", "a.example/x"} {
		if _, err := ParseDomains(bad); err == nil {
			t.Errorf("ParseDomains(%q) accepted", bad)
		}
	}
}

// The files are reloaded when they change; a half-written pair (the new
// certificate next to the old key) keeps the old certificate and is
// reported once; once the key follows, the new pair is served.
func TestReload(t *testing.T) {
	ca := newTestCA(t)
	now := time.Now()
	dir := t.TempDir()
	c1, k1 := ca.issue(t, 10, now.Add(-time.Hour), now.Add(time.Hour), "a.example")
	c2, k2 := ca.issue(t, 11, now.Add(-time.Hour), now.Add(2*time.Hour), "a.example")
	cf, kf := writePair(t, dir, c1, k1, now.Add(-time.Minute))

	m, _ := newTestMetrics(t)
	cfg := DefaultConfig()
	cfg.CertFile, cfg.KeyFile, cfg.ReloadInterval = cf, kf, 10*time.Millisecond
	mg, err := New(cfg, nil, m, quietLog(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !mg.Ready() || mg.Certificate().Leaf.SerialNumber.Int64() != 10 {
		t.Fatalf("serving %v, ready %v; want serial 10, ready", mg.Certificate().Leaf.SerialNumber, mg.Ready())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go mg.Run(ctx)

	serial := func() int64 { return mg.Certificate().Leaf.SerialNumber.Int64() }
	// Step 1: only the certificate is new.
	writePair(t, dir, c2, nil, now)
	eventually(t, 5*time.Second, "the half-written pair is reported", func() bool { return counter(m.reloads.WithLabelValues("error")) == 1 })
	// It is reported once however often it is checked.
	mg.Poke()
	mg.Poke()
	if serial() != 10 {
		t.Fatalf("serving serial %d after a half-written pair; want the old 10", serial())
	}
	// Step 2: the key follows.
	writePair(t, dir, nil, k2, now)
	eventually(t, 5*time.Second, "the new pair is served", func() bool { return serial() == 11 })
	if e, o := counter(m.reloads.WithLabelValues("error")), counter(m.reloads.WithLabelValues("ok")); e != 1 || o != 1 {
		t.Fatalf("reloads error=%v ok=%v; want 1 and 1", e, o)
	}
	if got := counter(m.expiry.WithLabelValues("a.example")); got != float64(now.Add(2*time.Hour).Unix()) {
		t.Fatalf("expiry gauge %v; want %d", got, now.Add(2*time.Hour).Unix())
	}
	// Removed files keep the certificate too.
	os.Remove(kf)
	eventually(t, 5*time.Second, "the missing key is reported", func() bool { return counter(m.reloads.WithLabelValues("error")) == 2 })
	if serial() != 11 {
		t.Fatalf("serving %d after the key vanished; want 11", serial())
	}
}
