package certs

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LetsEncrypt is the default ACME directory: Let's Encrypt's production CA.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Config is the TLS part of mitosis's configuration. TLS is on when CertFile
// or Domains is set (Enabled); the two are exclusive.
type Config struct {
	// Listen is the HTTPS address (MITOSIS_TLS_LISTEN, default ":8443").
	Listen string
	// RedirectListen is the plain-HTTP address that redirects to HTTPS and
	// answers ACME HTTP-01 challenges (MITOSIS_HTTP_REDIRECT; "" = off).
	RedirectListen string

	// CertFile and KeyFile are a PEM certificate chain and its private key
	// (MITOSIS_TLS_CERT, MITOSIS_TLS_KEY), reloaded when they change.
	CertFile, KeyFile string

	// Domains are the names to obtain one certificate for from the ACME CA
	// (MITOSIS_TLS_DOMAINS, comma-separated).
	Domains []string
	// CA is the ACME directory URL (MITOSIS_ACME_CA, default LetsEncrypt).
	CA string
	// Email is the ACME account's contact (MITOSIS_ACME_EMAIL, optional).
	Email string
	// StoreDir keeps the tier's ACME state across a restart of the whole
	// tier (MITOSIS_TLS_STORE; "" = memory only).
	StoreDir string

	// HSTS is the max-age of the Strict-Transport-Security header sent on
	// HTTPS responses (MITOSIS_HSTS; 0 = no header).
	HSTS time.Duration

	// Token is the cluster token that guards the state endpoints and is
	// sent when pulling state from siblings ("" = no token).
	Token string

	// ReloadInterval is how often the certificate files are checked for a
	// change (default 5s).
	ReloadInterval time.Duration
	// SyncInterval is how often a replica pulls the tier's state from a
	// sibling, and the leader checks whether to order (default 5s).
	SyncInterval time.Duration
	// RenewWindow: a certificate is renewed once less than this share of
	// its lifetime is left (default 1/3: 30 days of Let's Encrypt's 90).
	RenewWindow float64
	// RetryMin and RetryMax bound the back-off between failed orders
	// (default 1m, doubling up to 1h).
	RetryMin, RetryMax time.Duration
	// Settle is how long a replica must have been leader, pulling from its
	// siblings, before it orders a certificate the tier lacks (default
	// 15s): a replica that just started sees no sibling yet and would
	// otherwise think it leads.
	Settle time.Duration
	// OrderTimeout bounds one ACME order (default 5m).
	OrderTimeout time.Duration
	// HandshakeTimeout bounds a TLS handshake (default 10s; mitosis sets
	// it to MITOSIS_READ_HEADER_TIMEOUT).
	HandshakeTimeout time.Duration

	// ACMEClient talks to the CA (nil: a client with timeouts that trusts
	// the system roots). Tests set one that trusts their CA.
	ACMEClient *http.Client
	// PeerClient pulls state from siblings (nil: a client with timeouts).
	PeerClient *http.Client
}

// DefaultConfig returns TLS off with the defaults listed in README.md.
func DefaultConfig() Config {
	return Config{
		Listen:           ":8443",
		CA:               LetsEncrypt,
		ReloadInterval:   5 * time.Second,
		SyncInterval:     5 * time.Second,
		RenewWindow:      1.0 / 3,
		RetryMin:         time.Minute,
		RetryMax:         time.Hour,
		Settle:           15 * time.Second,
		OrderTimeout:     5 * time.Minute,
		HandshakeTimeout: 10 * time.Second,
	}
}

// Enabled reports whether an HTTPS listener is configured.
func (c Config) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" || len(c.Domains) > 0 }

// ACME reports whether the certificate comes from an ACME CA.
func (c Config) ACME() bool { return len(c.Domains) > 0 }

// ParseDomains splits MITOSIS_TLS_DOMAINS: comma-separated DNS names,
// lower-cased, without duplicates.
func ParseDomains(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, d := range strings.Split(s, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if err := checkDomain(d); err != nil {
			return nil, fmt.Errorf("%q: %w", d, err)
		}
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out, nil
}

// checkDomain accepts a DNS name an ACME CA can issue for with HTTP-01:
// letters, digits and hyphens in dot-separated labels, no wildcard, no IP.
func checkDomain(d string) error {
	if len(d) > 253 || !strings.Contains(d, ".") {
		return errors.New("must be a fully qualified DNS name")
	}
	if net.ParseIP(d) != nil {
		return errors.New("must be a DNS name, not an IP address")
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("must be a DNS name (labels of 1-63 letters, digits or inner hyphens; wildcards need DNS-01, which mitosis does not do)")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return errors.New("must be a DNS name (labels of 1-63 letters, digits or inner hyphens; wildcards need DNS-01, which mitosis does not do)")
			}
		}
	}
	return nil
}

// Validate checks the settings. It does not read the files: New does (so
// that "mitosis healthcheck", which reads the configuration too, does not
// fail a running replica over a certificate that expired since it
// started).
func (c Config) Validate() error {
	var errs []error
	checkAddr := func(env, v string) {
		if _, port, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: must be host:port or :port", env, v))
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s=%q: port must be in [0; 65535]", env, v))
		}
	}
	if c.Enabled() {
		checkAddr("MITOSIS_TLS_LISTEN", c.Listen)
	}
	if c.RedirectListen != "" {
		checkAddr("MITOSIS_HTTP_REDIRECT", c.RedirectListen)
		if !c.Enabled() {
			errs = append(errs, fmt.Errorf("MITOSIS_HTTP_REDIRECT=%q: redirects to HTTPS, which needs MITOSIS_TLS_CERT and MITOSIS_TLS_KEY, or MITOSIS_TLS_DOMAINS", c.RedirectListen))
		}
	}
	switch {
	case (c.CertFile != "" || c.KeyFile != "") && len(c.Domains) > 0:
		errs = append(errs, errors.New("MITOSIS_TLS_DOMAINS: give either certificate files (MITOSIS_TLS_CERT, MITOSIS_TLS_KEY) or domains for ACME, not both"))
	case c.CertFile == "" && c.KeyFile != "":
		errs = append(errs, fmt.Errorf("MITOSIS_TLS_KEY=%q: needs MITOSIS_TLS_CERT", c.KeyFile))
	case c.CertFile != "" && c.KeyFile == "":
		errs = append(errs, fmt.Errorf("MITOSIS_TLS_CERT=%q: needs MITOSIS_TLS_KEY", c.CertFile))
	}
	if c.ACME() {
		if c.RedirectListen == "" {
			errs = append(errs, errors.New("MITOSIS_TLS_DOMAINS: needs MITOSIS_HTTP_REDIRECT: the CA checks each name over plain HTTP on port 80, which must reach that listener"))
		}
		if u, err := url.Parse(c.CA); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("MITOSIS_ACME_CA=%q: must be an https:// ACME directory URL", c.CA))
		}
		if c.Email != "" {
			if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
				errs = append(errs, fmt.Errorf("MITOSIS_ACME_EMAIL=%q: must be an e-mail address such as ops@example.com", c.Email))
			}
		}
	} else if c.StoreDir != "" {
		errs = append(errs, fmt.Errorf("MITOSIS_TLS_STORE=%q: keeps ACME state, which needs MITOSIS_TLS_DOMAINS", c.StoreDir))
	}
	if c.HSTS < 0 || c.HSTS > 2*365*24*time.Hour {
		errs = append(errs, fmt.Errorf("MITOSIS_HSTS=%s: must be in [0s; 17520h] (0: no header)", c.HSTS))
	} else if c.HSTS > 0 && c.HSTS < time.Second {
		errs = append(errs, fmt.Errorf("MITOSIS_HSTS=%s: must be 0 or at least 1s (max-age counts seconds)", c.HSTS))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ReloadInterval", c.ReloadInterval}, {"SyncInterval", c.SyncInterval}, {"RetryMin", c.RetryMin}, {"RetryMax", c.RetryMax}, {"OrderTimeout", c.OrderTimeout}, {"HandshakeTimeout", c.HandshakeTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("certs: %s=%s: must be > 0", d.name, d.v))
		}
	}
	if c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("certs: RetryMax=%s: must be at least RetryMin (%s)", c.RetryMax, c.RetryMin))
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("certs: Settle=%s: must be >= 0", c.Settle))
	}
	if !(c.RenewWindow > 0 && c.RenewWindow < 1) {
		errs = append(errs, fmt.Errorf("certs: RenewWindow=%g: must be in (0; 1)", c.RenewWindow))
	}
	return errors.Join(errs...)
}
