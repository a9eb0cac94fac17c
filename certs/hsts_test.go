package certs

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

// HSTS goes on answers to requests that came over TLS only (RFC 6797
// §7.2), and nowhere with a max-age of 0.
func TestHSTSOnlyOverTLS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	for _, tc := range []struct {
		name   string
		maxAge int64
		tls    bool
		want   string
	}{
		{"over TLS", 600, true, "max-age=600"},
		{"plain HTTP", 600, false, ""},
		{"off", 0, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if !tc.tls {
				r.TLS = nil
			} else if r.TLS == nil {
				r.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			HSTS(ok, tc.maxAge).ServeHTTP(w, r)
			if got := w.Header().Get("Strict-Transport-Security"); got != tc.want {
				t.Errorf("Strict-Transport-Security %q, want %q", got, tc.want)
			}
			if got := HSTSValue(tc.maxAge); got != tc.want && tc.tls {
				t.Errorf("HSTSValue(%d) = %q, want %q", tc.maxAge, got, tc.want)
			}
		})
	}
}
