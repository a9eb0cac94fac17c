package main

import (
	"bytes"
	"crypto/x509"
	"net"
	"strings"
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

// Bad TLS settings stop start-up with exit status 2 and a line naming the
// variable and the file.
func TestTLSBadInputExit2(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cf, kf, _ := writeCert(t, dir, now.Add(-time.Hour), now.Add(time.Hour), "a.example")
	other := t.TempDir()
	_, otherKey, _ := writeCert(t, other, now.Add(-time.Hour), now.Add(time.Hour), "a.example")
	old := t.TempDir()
	oldCert, oldKey, _ := writeCert(t, old, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "a.example")
	// The files are read before anything listens or starts.
	base := []string{"MITOSIS_LISTEN=" + freeAddr(t), "MITOSIS_ADMIN_LISTEN=" + freeAddr(t), "MITOSIS_DRIVER=off"}
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"missing cert", []string{"MITOSIS_TLS_CERT=" + dir + "/nope.pem", "MITOSIS_TLS_KEY=" + kf}, `MITOSIS_TLS_CERT="` + dir + `/nope.pem": cannot read the certificate`},
		{"missing key", []string{"MITOSIS_TLS_CERT=" + cf, "MITOSIS_TLS_KEY=" + dir + "/nope.pem"}, `MITOSIS_TLS_KEY="` + dir + `/nope.pem": cannot read the private key`},
		{"unreadable cert", []string{"MITOSIS_TLS_CERT=" + dir, "MITOSIS_TLS_KEY=" + kf}, `MITOSIS_TLS_CERT="` + dir + `": cannot read`},
		{"key does not match", []string{"MITOSIS_TLS_CERT=" + cf, "MITOSIS_TLS_KEY=" + otherKey}, `MITOSIS_TLS_KEY="` + otherKey + `": the private key does not match the certificate`},
		{"expired", []string{"MITOSIS_TLS_CERT=" + oldCert, "MITOSIS_TLS_KEY=" + oldKey}, `MITOSIS_TLS_CERT="` + oldCert + `": the certificate for a.example expired on`},
		{"acme with siblings and no token", []string{"MITOSIS_DRIVER=process", "MITOSIS_TLS_DOMAINS=a.example", "MITOSIS_HTTP_REDIRECT=127.0.0.1:0"}, "MITOSIS_TLS_DOMAINS: replicas share the ACME account"},
		{"bad domain", []string{"MITOSIS_TLS_DOMAINS=*.example.com"}, `MITOSIS_TLS_DOMAINS="*.example.com"`},
		{"tls on the plain port", []string{"MITOSIS_LISTEN=127.0.0.1:8444", "MITOSIS_TLS_LISTEN=127.0.0.1:8444", "MITOSIS_TLS_CERT=" + cf, "MITOSIS_TLS_KEY=" + kf}, `MITOSIS_TLS_LISTEN="127.0.0.1:8444": must differ from MITOSIS_LISTEN`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(nil, append(append([]string{}, base...), tc.env...), &out, &errb)
			if code != 2 || !strings.Contains(errb.String(), "mitosis: "+tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 2 and a line with %q", code, errb.String(), tc.want)
			}
		})
	}
}

// freeAddr is a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
