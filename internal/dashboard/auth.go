package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

// CookieName is the sign-in cookie of the page. Browsers send cookies to
// every port of a host, so one sign-in also opens the pages of sibling
// replicas on the same host (they share the token).
const CookieName = "mitosis_dashboard"

// cookieTTL is how long a sign-in lasts.
const cookieTTL = 12 * time.Hour

// Authorized reports whether r may read what the cluster token protects:
// no token is configured, or r carries it in X-Mitosis-Token, as a bearer
// token (Prometheus' authorization setting), or as a valid sign-in cookie.
func Authorized(r *http.Request, token string, now time.Time) bool {
	if token == "" || pool.TokenOK(r, token) {
		return true
	}
	if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
		subtle.ConstantTimeCompare([]byte(b), []byte(token)) == 1 {
		return true
	}
	c, err := r.Cookie(CookieName)
	return err == nil && cookieOK(c.Value, token, now)
}

// cookieValue is "<unix seconds>.<hex HMAC-SHA256 of them keyed by the
// token>": it proves the token was presented at that time without
// carrying it, so a leaked cookie neither reveals the token (which also
// admits hops and state polls) nor lasts beyond cookieTTL.
func cookieValue(token string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return ts + "." + hex.EncodeToString(cookieMAC(token, ts))
}

func cookieMAC(token, ts string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("mitosis dashboard sign-in " + ts))
	return m.Sum(nil)
}

func cookieOK(v, token string, now time.Time) bool {
	ts, mac, ok := strings.Cut(v, ".")
	if !ok || len(ts) > 20 {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	at := time.Unix(sec, 0)
	if now.Sub(at) > cookieTTL || at.Sub(now) > time.Minute {
		return false
	}
	got, err := hex.DecodeString(mac)
	return err == nil && hmac.Equal(got, cookieMAC(token, ts))
}

// signIn sets the cookie for a correct token: HttpOnly (scripts cannot
// read it), SameSite=Strict (no other site's page sends it), path
// /_mitosis/. Not Secure: the admin port speaks plain HTTP.
func signIn(w http.ResponseWriter, token string, now time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    cookieValue(token, now),
		Path:     "/_mitosis/",
		MaxAge:   int(cookieTTL / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}
