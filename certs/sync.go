package certs

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

// Admin paths on the admin port, guarded by the cluster token.
const (
	StatePath     = "/_mitosis/tls/state"
	challengePath = "/_mitosis/tls/challenge/"
)

// step is one round of the ACME loop: a follower pulls the tier's state;
// the leader orders or renews when the tier's certificate needs it.
func (mg *Manager) step(ctx context.Context) {
	now := mg.now()
	if mg.tier == nil || !mg.tier.Leader() {
		mg.leaderSince = time.Time{}
		if mg.pull(ctx, false) {
			mg.ready.Store(true)
		}
	} else {
		if mg.leaderSince.IsZero() {
			mg.leaderSince = now
			mg.log.Info("TLS: this replica now obtains and renews the tier's certificate", "domains", mg.cfg.Domains)
		}
		mg.maybeOrder(ctx, now)
	}
	if !mg.ready.Load() && (mg.cur.Load() != nil || now.Sub(mg.started) >= mg.cfg.Settle) {
		mg.ready.Store(true)
	}
}

// needsOrder reports whether the tier's certificate is missing, does not
// cover every configured name, or is inside its renewal window.
func (mg *Manager) needsOrder(now time.Time) (bool, string) {
	mg.mu.Lock()
	c := mg.cert
	mg.mu.Unlock()
	if c == nil {
		return true, "obtain"
	}
	if !mg.covers(c) {
		return true, "obtain"
	}
	return !now.Before(renewAt(c.cert.Leaf.NotBefore, c.cert.Leaf.NotAfter, mg.cfg.RenewWindow)), "renew"
}

// renewAt is when a certificate valid from nb to na is renewed: when less
// than window of its lifetime is left.
func renewAt(nb, na time.Time, window float64) time.Time {
	return na.Add(-time.Duration(float64(na.Sub(nb)) * window))
}

func (mg *Manager) covers(c *issued) bool {
	for _, d := range mg.cfg.Domains {
		if c.cert.Leaf.VerifyHostname(d) != nil {
			return false
		}
	}
	return true
}

// maybeOrder orders a certificate when the tier needs one: after pulling
// from every sibling (one may have it), once this replica has led for
// Config.Settle, and not before the back-off after a failure has passed.
func (mg *Manager) maybeOrder(ctx context.Context, now time.Time) {
	need, _ := mg.needsOrder(now)
	if !need {
		return
	}
	mg.pull(ctx, true)
	need, kind := mg.needsOrder(now)
	if !need || now.Sub(mg.leaderSince) < mg.cfg.Settle || now.Before(mg.nextTry) {
		return
	}
	err := mg.order(ctx)
	if err != nil {
		mg.fails++
		wait := backoff(mg.fails, mg.cfg.RetryMin, mg.cfg.RetryMax)
		mg.nextTry = mg.now().Add(wait)
		mg.m.orders.WithLabelValues(kind, "error").Inc()
		mg.m.failing.Set(float64(mg.fails))
		mg.log.Error("TLS: ACME order failed; plain HTTP keeps serving, retrying with back-off",
			"kind", kind, "domains", mg.cfg.Domains, "failures", mg.fails, "retry_in", wait, "err", err)
		return
	}
	mg.fails, mg.nextTry = 0, time.Time{}
	mg.m.orders.WithLabelValues(kind, "ok").Inc()
	mg.m.failing.Set(0)
	c := mg.cur.Load()
	mg.log.Info("TLS: certificate obtained", "kind", kind, "names", c.Leaf.DNSNames, "not_after", c.Leaf.NotAfter)
}

// backoff is the wait after the n-th failure in a row: lo, doubling, at
// most hi.
func backoff(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// pull reads the tier's state from the siblings in Tier.Peers order and
// adopts what is newer: from the first that answers, or (all) from every
// one. It reports whether one answered.
func (mg *Manager) pull(ctx context.Context, all bool) bool {
	if mg.tier == nil {
		return false
	}
	any := false
	challenges := map[string]string{}
	for _, p := range mg.tier.Peers() {
		s, err := mg.fetchState(ctx, p)
		if err != nil {
			mg.m.syncs.WithLabelValues("error").Inc()
			mg.log.Debug("TLS: state pull failed", "sibling", p, "err", err)
			continue
		}
		mg.m.syncs.WithLabelValues("ok").Inc()
		any = true
		maps.Copy(challenges, validChallenges(s.Challenges))
		mg.adopt(s, !all, p)
		if !all {
			break
		}
	}
	if any {
		mg.mu.Lock()
		mg.remote = challenges
		mg.mu.Unlock()
	}
	return any
}

// adopt takes from s what is better than what this replica holds: the
// newest valid certificate for all configured names; an account at this
// CA when this replica has none (or, pulling from the leader, the
// leader's). Invalid parts are ignored.
func (mg *Manager) adopt(s State, fromLeader bool, from string) {
	now := mg.now()
	a, err := parseAccount(s.Account)
	if err != nil {
		mg.log.Warn("TLS: ignoring an account that does not parse", "from", from, "err", err)
		a = nil
	}
	c, err := parseIssued(s.Cert, now)
	if err != nil {
		mg.log.Warn("TLS: ignoring a certificate that does not load", "from", from, "err", err)
		c = nil
	}
	acctChanged, certChanged := false, false
	mg.mu.Lock()
	if a != nil && a.CA == mg.cfg.CA && a.URL != "" &&
		(mg.acct == nil || mg.acct.URL == "" || fromLeader && mg.acct.URL != a.URL) {
		mg.acct, acctChanged = a, true
	}
	if c != nil && mg.covers(c) && (mg.cert == nil || newer(c.cert.Leaf, mg.cert.cert.Leaf, fromLeader) || now.After(mg.cert.cert.Leaf.NotAfter)) {
		mg.cert, certChanged = c, true
	}
	mg.mu.Unlock()
	if !acctChanged && !certChanged {
		return
	}
	if certChanged {
		mg.serve(c.cert)
		mg.log.Info("TLS: serving the tier's certificate", "from", from, "names", c.cert.Leaf.DNSNames, "not_after", c.cert.Leaf.NotAfter)
	}
	if from != "store" {
		mg.persist()
	}
}

// newer reports whether certificate c replaces cur: it lasts longer, or
// as long but was issued later, or (from the leader, which decides) it is
// a different certificate lasting as long: x509 times count seconds, and
// a renewal can come within the second of the order before it.
func newer(c, cur *x509.Certificate, fromLeader bool) bool {
	switch {
	case c.NotAfter.After(cur.NotAfter):
		return true
	case c.NotAfter.Before(cur.NotAfter):
		return false
	case c.NotBefore.After(cur.NotBefore):
		return true
	}
	return fromLeader && c.NotBefore.Equal(cur.NotBefore) && c.SerialNumber.Cmp(cur.SerialNumber) != 0
}

// snapshot is the state this replica holds, challenges included.
func (mg *Manager) snapshot() State {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	var s State
	if mg.acct != nil {
		a := mg.acct.AccountState
		s.Account = &a
	}
	if mg.cert != nil {
		c := mg.cert.CertState
		s.Cert = &c
	}
	if len(mg.own)+len(mg.remote) > 0 {
		s.Challenges = make(map[string]string, len(mg.own)+len(mg.remote))
		maps.Copy(s.Challenges, mg.remote)
		maps.Copy(s.Challenges, mg.own)
	}
	return s
}

func (mg *Manager) persist() {
	if mg.cfg.StoreDir == "" {
		return
	}
	if err := saveStore(mg.cfg.StoreDir, mg.snapshot()); err != nil {
		mg.log.Error("TLS: cannot write the store", "dir", mg.cfg.StoreDir, "err", err)
	}
}

func (mg *Manager) fetchState(ctx context.Context, addr string) (State, error) {
	var s State
	b, err := mg.get(ctx, addr, StatePath)
	if err != nil {
		return s, err
	}
	err = json.Unmarshal(b, &s)
	return s, err
}

// get reads path from a sibling's admin server, with the cluster token,
// within a few seconds and maxStateBytes.
func (mg *Manager) get(ctx context.Context, addr, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(pool.TokenHeader, mg.cfg.Token)
	resp, err := mg.peer.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxStateBytes+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s%s: %s", addr, path, resp.Status)
	}
	if len(b) > maxStateBytes {
		return nil, errors.New("state larger than 1 MiB")
	}
	return b, nil
}

// AdminHandler serves the tier's state (GET /_mitosis/tls/state) and single
// challenge answers (GET /_mitosis/tls/challenge/{token}) to siblings that
// send the cluster token. Without a token configured it refuses: the state
// holds private keys.
func (mg *Manager) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatePath, func(w http.ResponseWriter, r *http.Request) {
		if !mg.authorized(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(mg.snapshot())
	})
	mux.HandleFunc("GET "+challengePath+"{token}", func(w http.ResponseWriter, r *http.Request) {
		if !mg.authorized(w, r) {
			return
		}
		// Local answers only: a sibling asking never makes this replica
		// ask another (no loops, no amplification).
		ka, ok := mg.localChallenge(r.PathValue("token"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, ka)
	})
	return mux
}

func (mg *Manager) authorized(w http.ResponseWriter, r *http.Request) bool {
	if !mg.cfg.ACME() {
		http.NotFound(w, r)
		return false
	}
	if mg.cfg.Token == "" {
		http.Error(w, "the tier's TLS state is shared only when MITOSIS_CLUSTER_TOKEN is set", http.StatusForbidden)
		return false
	}
	if !pool.TokenOK(r, mg.cfg.Token) {
		http.Error(w, "missing or wrong X-Mitosis-Token", http.StatusUnauthorized)
		return false
	}
	return true
}

func (mg *Manager) localChallenge(token string) (string, bool) {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	if ka, ok := mg.own[token]; ok {
		return ka, true
	}
	ka, ok := mg.remote[token]
	return ka, ok
}

// challenge answers an HTTP-01 token: from this replica's copy, else (a
// few times a second at most) from the siblings, the leader first.
func (mg *Manager) challenge(ctx context.Context, token string) (string, bool) {
	if !validToken(token) {
		return "", false
	}
	if ka, ok := mg.localChallenge(token); ok {
		return ka, true
	}
	if mg.tier == nil || !mg.misses.Allow() {
		return "", false
	}
	peers := mg.tier.Peers()
	for _, p := range peers[:min(len(peers), 3)] {
		b, err := mg.get(ctx, p, challengePath+token)
		if err != nil || len(b) > maxKeyAuthLen {
			continue
		}
		if ka := string(b); len(validChallenges(map[string]string{token: ka})) == 1 {
			mg.mu.Lock()
			if len(mg.remote) < maxChallenges {
				mg.remote[token] = ka
			}
			mg.mu.Unlock()
			return ka, true
		}
	}
	return "", false
}
