package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/certs/certtest"
)

// The HTTPS part: one mitosis replica serving HTTPS (MITOSIS_TLS_LISTEN,
// HTTP/1.1 on the h1 fast path through crypto/tls) against nginx with the same
// certificate, both proxying to the same upstream over plain HTTP, with
// wrk over TLS (HTTP/1.1: wrk does not speak HTTP/2). Two closed loops
// per target and round: keep-alive connections (the cost of TLS records
// on top of the proxying), and a new connection for every request
// (Connection: close: the cost of handshakes).

// certPair is a certificate file and its key file.
type certPair struct{ cert, key string }

// tlsDirectives is what nginx adds to its listen line and server block to
// serve tls (nothing when tls is nil): TLS 1.2 and 1.3, HTTP/2, the same
// certificate as mitosis, nginx's defaults otherwise.
func tlsDirectives(tls *certPair) string {
	if tls == nil {
		return ""
	}
	// "listen … ssl http2" is the form nginx before 1.25.1 (Debian 12)
	// knows; newer ones accept it with a deprecation warning.
	return fmt.Sprintf(" ssl http2;\n    ssl_certificate %s;\n    ssl_certificate_key %s;\n    ssl_protocols TLSv1.2 TLSv1.3", tls.cert, tls.key)
}

// selfSigned writes an ECDSA P-256 certificate for 127.0.0.1 and localhost
// (the kind of key the public CAs issue most today, and the kind mitosis's
// ACME orders) into the run's conf directory.
func (r *runner) selfSigned() (*certPair, error) {
	dir := filepath.Join(r.o.absOut, "conf", "https")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cert, key, _, err := certtest.Write(dir, time.Now().Add(-time.Hour), time.Now().Add(7*24*time.Hour), "localhost", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	return &certPair{cert, key}, nil
}

// httpsResults holds every round of both HTTPS targets.
type httpsResults struct {
	targets []string
	notes   map[string]string
	tlsInfo map[string]string // what OpenSSL (wrk's library) negotiated
	keep    map[string][]sample
	fresh   map[string][]sample
}

func (r *runner) runHTTPS(ctx context.Context) (*httpsResults, error) {
	pair, err := r.selfSigned()
	if err != nil {
		return nil, err
	}
	mp, err := r.startMitosis(ctx, "mitosis-https", r.bin("mitosis"), offHTTPSPlain, offHTTPSAdmin,
		append(r.localEnv(), "MITOSIS_TLS_LISTEN="+r.addr(offHTTPSMitosis), "MITOSIS_TLS_CERT="+pair.cert, "MITOSIS_TLS_KEY="+pair.key)...)
	if err != nil {
		return nil, err
	}
	np, err := r.nginxTLS(ctx, "nginx-https", offHTTPSNginx, r.addr(offUpstream), pair)
	if err != nil {
		return nil, err
	}
	targets := []*target{
		{name: "mitosis HTTPS", url: "https://" + r.addr(offHTTPSMitosis) + "/", procs: []*proc{mp},
			note: "GOMAXPROCS=1, MITOSIS_DRIVER=off, MITOSIS_TLS_CERT/KEY: HTTP/1.1 on the h1 fast path through crypto/tls"},
		{name: "nginx HTTPS", url: "https://" + r.addr(offHTTPSNginx) + "/", procs: []*proc{np},
			note: "1 worker, `listen … ssl http2`, the same certificate, upstream keepalive 64"},
	}
	res := &httpsResults{notes: map[string]string{}, tlsInfo: map[string]string{}, keep: map[string][]sample{}, fresh: map[string][]sample{}}
	closeHdr := []string{"-H", "Connection: close"}
	for _, t := range targets {
		res.targets = append(res.targets, t.name)
		res.notes[t.name] = t.note
		res.tlsInfo[t.name] = negotiated(ctx, strings.TrimSuffix(strings.TrimPrefix(t.url, "https://"), "/"))
		if _, err := r.wrk(ctx, t.url, time.Second); err != nil {
			return nil, fmt.Errorf("%s warm-up: %w", t.name, err)
		}
	}
	for round := 1; round <= r.o.rounds; round++ {
		for _, i := range roundOrder(len(targets), round) {
			t := targets[i]
			r.logf("round %d/%d: %s keep-alive (wrk -t1 -c%d -d%s)", round, r.o.rounds, t.name, r.o.conns, r.o.duration)
			s, err := r.measure(ctx, t, 0, func() (sample, error) { return r.wrk(ctx, t.url, r.o.duration) })
			if err != nil {
				return nil, fmt.Errorf("%s keep-alive: %w", t.name, err)
			}
			r.logf("  %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d", s.rps, s.p50, s.p99, s.errors)
			res.keep[t.name] = append(res.keep[t.name], s)
			pause(ctx)
			r.logf("round %d/%d: %s new connection per request", round, r.o.rounds, t.name)
			s, err = r.measure(ctx, t, 0, func() (sample, error) { return r.wrk(ctx, t.url, r.o.duration, closeHdr...) })
			if err != nil {
				return nil, fmt.Errorf("%s new connections: %w", t.name, err)
			}
			r.logf("  %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d", s.rps, s.p50, s.p99, s.errors)
			res.fresh[t.name] = append(res.fresh[t.name], s)
			pause(ctx)
		}
	}
	r.ps.stopOne(mp)
	r.ps.stopOne(np)
	return res, nil
}

// negotiated asks OpenSSL's s_client (the library wrk uses) what it
// agrees on with addr: protocol, cipher suite, key exchange group.
func negotiated(ctx context.Context, addr string) string {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, "openssl", "s_client", "-connect", addr, "-brief", "-alpn", "h2,http/1.1")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		return "unknown (" + err.Error() + ")"
	}
	var parts []string
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Protocol version", "Ciphersuite", "Server Temp Key", "Negotiated TLS1.3 group", "ALPN protocol":
			parts = append(parts, strings.TrimSpace(v))
		}
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ", ")
}

// httpsSection renders the HTTPS tables.
func (rep *report) httpsSection() string {
	h := rep.https
	var b strings.Builder
	b.WriteString("## HTTPS\n\n")
	b.WriteString("One mitosis replica serving HTTPS (`MITOSIS_TLS_LISTEN`, `MITOSIS_TLS_CERT`/`KEY`: HTTP/1.1 connections are served by the h1 fast path, HTTP/2 ones by net/http, both with the full balancer, TLS handled by Go's crypto/tls) against nginx with the same self-signed ECDSA P-256 certificate, both proxying to the same upstream over plain HTTP, measured in the same run, round by round. wrk speaks TLS but not HTTP/2, so both are measured over HTTP/1.1 (HTTP/2 is negotiated by browsers; see the README). **Keep-alive**: wrk's 64 connections stay open, so this is the cost of TLS records on top of proxying. **New connection per request**: `-H \"Connection: close\"`, so every request pays a TCP connection and a TLS handshake; wrk keeps its OpenSSL session object across reconnects, so these handshakes may be resumptions where the server offers tickets (both do by default).\n\n")
	b.WriteString("| target | negotiated (OpenSSL client) | setup |\n|---|---|---|\n")
	for _, n := range h.targets {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", n, h.tlsInfo[n], h.notes[n])
	}
	b.WriteString("\n| target | keep-alive req/s | p50 ms | p99 ms | CPU s / 100k req | new conn. req/s | p50 ms | p99 ms | CPU s / 100k req | errors |\n|---|---|---|---|---|---|---|---|---|---|\n")
	rps := func(s sample) float64 { return s.rps }
	p50 := func(s sample) float64 { return s.p50 }
	p99 := func(s sample) float64 { return s.p99 }
	for _, n := range h.targets {
		k, f := h.keep[n], h.fresh[n]
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %.0f | %s | %s | %s | %d |\n", n,
			med(k, rps), ms(med(k, p50)), ms(med(k, p99)), cpuCell(k),
			med(f, rps), ms(med(f, p50)), ms(med(f, p99)), cpuCell(f), errSum(k)+errSum(f))
	}
	if m, x := h.keep["mitosis HTTPS"], h.keep["nginx HTTPS"]; len(m) > 0 && len(x) > 0 {
		mf, xf := h.fresh["mitosis HTTPS"], h.fresh["nginx HTTPS"]
		fmt.Fprintf(&b, "\nmitosis HTTPS vs nginx HTTPS (medians): keep-alive %.0f%% of nginx's req/s, p99 %+.0f%%, CPU per request %.2f×; new connections %.0f%% of nginx's req/s, p99 %+.0f%%, CPU per request %.2f×.\n",
			100*med(m, rps)/med(x, rps), 100*(med(m, p99)-med(x, p99))/med(x, p99), med(m, sample.cpuPer100k)/med(x, sample.cpuPer100k),
			100*med(mf, rps)/med(xf, rps), 100*(med(mf, p99)-med(xf, p99))/med(xf, p99), med(mf, sample.cpuPer100k)/med(xf, sample.cpuPer100k))
	}
	b.WriteString("\n")
	return b.String()
}
