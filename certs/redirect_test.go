package certs

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRedirect(t *testing.T) {
	ca := newTestCA(t)
	m, _ := newTestMetrics(t)
	mg := fileManager(t, ca, m, "a.example")
	cases := []struct {
		method, host, uri string
		port              int
		code              int
		loc               string
	}{
		{"GET", "a.example", "/path?q=1", 8443, 308, "https://a.example/path?q=1"},
		{"POST", "a.example", "/form", 8443, 308, "https://a.example/form"},
		{"GET", "A.Example.:8081", "/x", 8443, 308, "https://a.example:8443/x"},
		{"GET", "a.example:8081", "/x", 443, 308, "https://a.example/x"},
		{"GET", "127.0.0.1:8081", "/", 8443, 308, "https://127.0.0.1:8443/"},
		{"GET", "[::1]:8081", "/", 8443, 308, "https://[::1]:8443/"},
		{"HEAD", "a.example", "/", 8443, 308, "https://a.example/"},
		// Without ACME, challenges are not answered: redirected like the rest.
		{"GET", "a.example", "/.well-known/acme-challenge/abcdefghijklmnopqrstuvwxyz", 8443, 308, "https://a.example/.well-known/acme-challenge/abcdefghijklmnopqrstuvwxyz"},
		// A Host that could put something else into Location is refused.
		{"GET", "evil.example/x", "/", 8443, 400, ""},
		{"GET", "a.example@evil.example", "/", 8443, 400, ""},
		{"GET", "a.example:99999", "/", 8443, 400, ""},
		{"GET", "", "/", 8443, 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.host+tc.uri, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://x"+tc.uri, nil)
			r.Host = tc.host
			w := httptest.NewRecorder()
			mg.RedirectHandler(tc.port).ServeHTTP(w, r)
			if w.Code != tc.code || w.Header().Get("Location") != tc.loc {
				t.Fatalf("got %d Location %q; want %d %q", w.Code, w.Header().Get("Location"), tc.code, tc.loc)
			}
		})
	}
}

// The redirect listener proxies nothing: whatever the request, the
// answer is a redirect (or 400), never the app.
func TestRedirectOverRealSocket(t *testing.T) {
	ca := newTestCA(t)
	m, _ := newTestMetrics(t)
	mg := fileManager(t, ca, m, "a.example")
	srv := httptest.NewServer(mg.RedirectHandler(8443))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("PUT", srv.URL+"/api/x", strings.NewReader("body"))
	req.Host = "a.example"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://a.example/api/x" || !strings.Contains(string(b), "use HTTPS") {
		t.Fatalf("got %d %q %q", resp.StatusCode, resp.Header.Get("Location"), b)
	}
}

// With ACME, a challenge is answered from the replica's copy; an unknown
// or malformed token is a 404, never a redirect.
func TestChallengeAnswers(t *testing.T) {
	m, _ := newTestMetrics(t)
	mg := lonelyACME(t, m)
	token := "tok_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	mg.own[token] = token + ".thumbprint"
	h := mg.RedirectHandler(8443)
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{challengePrefix + token, 200, token + ".thumbprint"},
		{challengePrefix + "unknownunknownunknownunknown", 404, ""},
		{challengePrefix + "short", 404, ""},
		{challengePrefix + "bad$chars$bad$chars$bad$chars", 404, ""},
	} {
		r := httptest.NewRequest("GET", "http://a.example"+tc.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.code || tc.code == 200 && w.Body.String() != tc.body {
			t.Fatalf("%s: got %d %q; want %d %q", tc.path, w.Code, w.Body.String(), tc.code, tc.body)
		}
	}
}
