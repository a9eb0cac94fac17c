package dashboard

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/pool"
)

// rig is a Dashboard on a real socket with a clock and frames the test
// controls.
type rig struct {
	mu   sync.Mutex
	now  time.Time
	f    Frame
	ds   []autoscale.Decision
	d    *Dashboard
	srv  *httptest.Server
	base string
}

func newRig(t *testing.T, token string) *rig {
	r := &rig{now: t0}
	r.f = Frame{Self: "127.0.0.1:9090", Desired: 2, Running: 2, Members: []pool.Member{
		member("127.0.0.1:9090", pool.StateReady, 10, 1, 0, 5*time.Millisecond, 0),
		member("127.0.0.1:9091", pool.StateReady, 20, 2, 1, 7*time.Millisecond, 0),
	}}
	clock := func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }
	frame := func(now time.Time) Frame { r.mu.Lock(); defer r.mu.Unlock(); f := r.f; f.Time = now; return f }
	decisions := func() []autoscale.Decision { r.mu.Lock(); defer r.mu.Unlock(); return r.ds }
	r.d = New(Config{ID: "web-1", Version: "v0.0.1", Driver: "process", Tick: 2 * time.Second, Token: token}, frame, decisions, clock)
	mux := http.NewServeMux()
	r.d.Register(mux)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	r.base = r.srv.URL
	return r
}

func (r *rig) step(d time.Duration) {
	r.mu.Lock()
	r.now = r.now.Add(d)
	now := r.now
	r.mu.Unlock()
	r.d.Step(now)
}

func noRedirect(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, method, u string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestViewWithoutToken(t *testing.T) {
	r := newRig(t, "")
	r.ds = []autoscale.Decision{dec(1, 1, 2, autoscale.ResultOK, "")}
	for range 3 {
		r.step(2 * time.Second)
	}
	c := noRedirect(nil)
	resp, body := fetch(t, c, "GET", r.base+"/_mitosis/api/view", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("view: %s %s", resp.Status, body)
	}
	var v View
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Points) != 3 || v.Points[2].RPS != 30 || v.Points[2].Queued != 1 || v.ID != "web-1" || v.TickMS != 2000 {
		t.Errorf("view: %+v", v)
	}
	if len(v.Replicas) != 2 || !v.Replicas[0].Self || v.Replicas[1].Self || v.Replicas[1].P95 != 7 {
		t.Errorf("rows: %+v", v.Replicas)
	}
	if len(v.Decisions) != 1 || v.Decisions[0].Desired != 2 {
		t.Errorf("decisions: %+v", v.Decisions)
	}
	_, body = fetch(t, c, "GET", r.base+"/_mitosis/api/view?since="+jsonInt(v.Points[1].T), nil, nil)
	_ = json.Unmarshal([]byte(body), &v)
	if len(v.Points) != 1 {
		t.Errorf("since the second point: %d points, want 1", len(v.Points))
	}
	resp, body = fetch(t, c, "GET", r.base+"/_mitosis/", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "/_mitosis/assets/app.js") {
		t.Errorf("page: %s", resp.Status)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("page CSP %q", csp)
	}
	for _, a := range []string{"app.js", "style.css"} {
		if resp, _ := fetch(t, c, "GET", r.base+"/_mitosis/assets/"+a, nil, nil); resp.StatusCode != 200 {
			t.Errorf("asset %s: %s", a, resp.Status)
		}
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestTokenProtectsThePage: with a cluster token, neither the page nor
// its data is shown without it; ?token= and the form exchange it for an
// HttpOnly, SameSite=Strict cookie that does not contain it.
func TestTokenProtectsThePage(t *testing.T) {
	const token = "s3cret-token"
	r := newRig(t, token)
	r.step(2 * time.Second)
	anon := noRedirect(nil)

	resp, body := fetch(t, anon, "GET", r.base+"/_mitosis/", nil, nil)
	if resp.StatusCode != 401 || !strings.Contains(body, `name="token"`) || strings.Contains(body, "app.js") {
		t.Fatalf("page without token: %s, want 401 and the sign-in form", resp.Status)
	}
	if resp, _ := fetch(t, anon, "GET", r.base+"/_mitosis/api/view", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("data without token: %s, want 401", resp.Status)
	}
	for name, hdr := range map[string]map[string]string{
		"header": {pool.TokenHeader: token}, "bearer": {"Authorization": "Bearer " + token},
	} {
		if resp, _ := fetch(t, anon, "GET", r.base+"/_mitosis/api/view", nil, hdr); resp.StatusCode != 200 {
			t.Errorf("data with the token as %s: %s", name, resp.Status)
		}
	}
	for name, hdr := range map[string]map[string]string{
		"wrong header": {pool.TokenHeader: "nope"}, "wrong bearer": {"Authorization": "Bearer nope"},
		"forged cookie":   {"Cookie": CookieName + "=" + cookieValue("nope", t0)},
		"token as cookie": {"Cookie": CookieName + "=" + token},
	} {
		if resp, _ := fetch(t, anon, "GET", r.base+"/_mitosis/api/view", nil, hdr); resp.StatusCode != 401 {
			t.Errorf("data with %s: %s, want 401", name, resp.Status)
		}
	}

	// A wrong token in the URL: the form again, no cookie.
	resp, body = fetch(t, anon, "GET", r.base+"/_mitosis/?token=wrong", nil, nil)
	if resp.StatusCode != 401 || !strings.Contains(body, "Wrong token") || len(resp.Cookies()) != 0 {
		t.Fatalf("wrong ?token=: %s cookies %v", resp.Status, resp.Cookies())
	}

	// The right one: a cookie, and a redirect to the plain address.
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	resp, _ = fetch(t, c, "GET", r.base+"/_mitosis/?token="+token, nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_mitosis/" {
		t.Fatalf("?token=: %s to %q, want 303 to /_mitosis/", resp.Status, resp.Header.Get("Location"))
	}
	ck := resp.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Path != "/_mitosis/" ||
		strings.Contains(ck[0].Value, token) {
		t.Fatalf("cookie %+v", ck)
	}
	if resp, _ := fetch(t, c, "GET", r.base+"/_mitosis/", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("page with the cookie: %s", resp.Status)
	}
	if resp, _ := fetch(t, c, "GET", r.base+"/_mitosis/api/view", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("data with the cookie: %s", resp.Status)
	}

	// The cookie expires.
	r.step(cookieTTL + time.Minute)
	if resp, _ := fetch(t, c, "GET", r.base+"/_mitosis/api/view", nil, nil); resp.StatusCode != 401 {
		t.Fatalf("data with an expired cookie: %s, want 401", resp.Status)
	}

	// The form.
	jar2, _ := cookiejar.New(nil)
	c2 := noRedirect(jar2)
	resp, _ = fetch(t, c2, "POST", r.base+"/_mitosis/login", strings.NewReader(url.Values{"token": {"wrong"}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != 401 {
		t.Fatalf("form with a wrong token: %s", resp.Status)
	}
	resp, _ = fetch(t, c2, "POST", r.base+"/_mitosis/login", strings.NewReader(url.Values{"token": {token}}.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("form: %s", resp.Status)
	}
	if resp, _ := fetch(t, c2, "GET", r.base+"/_mitosis/api/view", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("data after the form: %s", resp.Status)
	}
	// An oversized form is refused without reading it all.
	big := "token=" + strings.Repeat("x", 1<<20)
	if resp, _ := fetch(t, anon, "POST", r.base+"/_mitosis/login", strings.NewReader(big),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); resp.StatusCode != 400 {
		t.Fatalf("1 MiB form: %s, want 400", resp.Status)
	}
}

func TestCookieValue(t *testing.T) {
	v := cookieValue("tok", t0)
	for _, tc := range []struct {
		name  string
		v     string
		token string
		now   time.Time
		ok    bool
	}{
		{"fresh", v, "tok", t0.Add(time.Hour), true},
		{"other token", v, "tok2", t0, false},
		{"expired", v, "tok", t0.Add(cookieTTL + time.Second), false},
		{"from the future", cookieValue("tok", t0.Add(time.Hour)), "tok", t0, false},
		{"time changed", strings.Replace(v, "17", "18", 1), "tok", t0, false},
		{"garbage", "x.y", "tok", t0, false},
		{"no dot", "123", "tok", t0, false},
	} {
		if got := cookieOK(tc.v, tc.token, tc.now); got != tc.ok {
			t.Errorf("%s: cookieOK = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
