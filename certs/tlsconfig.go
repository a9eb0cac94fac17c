package certs

import (
	"crypto/tls"
	"net/http"
	"strconv"
)

// ServerTLSConfig is the HTTPS listener's configuration: TLS 1.2 and 1.3
// only; for TLS 1.2 only forward-secret AEAD suites (Mozilla's
// "intermediate" list: no CBC, no RSA key exchange, no 3DES); key
// exchange by the X25519/ML-KEM hybrid, then X25519, then P-256 and P-384;
// HTTP/2 and HTTP/1.1 offered by ALPN (a client without ALPN gets
// HTTP/1.1). get picks the certificate for each handshake.
func ServerTLSConfig(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384},
		NextProtos:       []string{"h2", "http/1.1"},
		GetCertificate:   get,
	}
}

// HSTS adds Strict-Transport-Security with maxAge to every response of h
// to a request that came over TLS (r.TLS set: RFC 6797 §7.2 forbids it
// over plain HTTP, where browsers ignore it anyway). maxAge 0 returns h
// unchanged. includeSubDomains is not sent: it would commit every name
// under the domain, which mitosis cannot know about.
func HSTS(h http.Handler, maxAgeSeconds int64) http.Handler {
	if maxAgeSeconds <= 0 {
		return h
	}
	v := []string{HSTSValue(maxAgeSeconds)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header()["Strict-Transport-Security"] = v
		}
		h.ServeHTTP(w, r)
	})
}

// HSTSValue is the Strict-Transport-Security value for maxAge seconds, the
// one HSTS sends ("" for 0: no header); the h1 fast path writes it too.
func HSTSValue(maxAgeSeconds int64) string {
	if maxAgeSeconds <= 0 {
		return ""
	}
	return "max-age=" + strconv.FormatInt(maxAgeSeconds, 10)
}
