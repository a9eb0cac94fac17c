package certs

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// RedirectHandler serves the plain-HTTP redirect listener
// (MITOSIS_HTTP_REDIRECT): ACME HTTP-01 challenges under
// /.well-known/acme-challenge/ (with ACME; answered from this replica's
// copy of the tier's state or, on a miss, by asking the siblings), and a
// 308 Permanent Redirect to the same host and URI over HTTPS for every
// other request. It proxies nothing.
//
// The HTTPS port in the Location: none (443) when the client reached this
// listener without a port in Host (port 80, as a published stack does),
// else httpsPort (MITOSIS_TLS_LISTEN's port, as when trying it locally).
func (mg *Manager) RedirectHandler(httpsPort int) http.Handler {
	suffix := ""
	if httpsPort != 443 && httpsPort != 0 {
		suffix = ":" + strconv.Itoa(httpsPort)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token, ok := strings.CutPrefix(r.URL.Path, challengePrefix); ok && mg.cfg.ACME() {
			ka, found := mg.challenge(r.Context(), token)
			if !found {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, ka)
			return
		}
		host, hasPort := redirectHost(r.Host)
		uri := r.URL.RequestURI()
		if host == "" || !strings.HasPrefix(uri, "/") {
			http.Error(w, "bad request: this port only redirects to HTTPS and needs a host name", http.StatusBadRequest)
			return
		}
		target := "https://" + host
		if hasPort {
			target += suffix
		}
		w.Header().Set("Location", target+uri)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusPermanentRedirect)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, "use HTTPS: "+target+uri+"\n")
		}
	})
}

// redirectHost is the host of a Host header fit for a Location (a DNS name,
// an IPv4 address or a bracketed IPv6 one), lower-cased, and whether the
// header named a port; "" if it is not fit.
func redirectHost(h string) (string, bool) {
	host, hasPort := h, false
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		var port string
		host, port = h[:i], h[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return "", false
		}
		hasPort = true
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		if ip := net.ParseIP(host[1 : len(host)-1]); ip == nil || ip.To4() != nil {
			return "", false
		}
		return strings.ToLower(host), hasPort
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || len(host) > 253 {
		return "", false
	}
	for _, l := range strings.Split(host, ".") {
		if l == "" || len(l) > 63 {
			return "", false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return host, hasPort
}
