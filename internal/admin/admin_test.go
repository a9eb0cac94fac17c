package admin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/pool"
)

type okHealth struct{}

func (okHealth) Healthz(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }
func (okHealth) Readyz(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "draining", http.StatusServiceUnavailable)
}

func testServer(t *testing.T, token string) *httptest.Server {
	t.Helper()
	doc := Doc{State: pool.State{ID: "adm-7", LatencyMS: pool.Latency{P95: 12.5}}, Members: []pool.Member{}}
	srv := httptest.NewServer(Handler(Options{Registry: prometheus.NewRegistry(), Health: okHealth{}, Token: token,
		State: func() Doc { return doc }}))
	t.Cleanup(srv.Close)
	return srv
}

func fetch(t *testing.T, url string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The cluster token guards the state document; health endpoints stay
// open (orchestrators do not know it).
func TestStateNeedsToken(t *testing.T) {
	srv := testServer(t, "s3cret")
	tests := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"wrong token", map[string]string{"X-Mitosis-Token": "guess"}, http.StatusUnauthorized},
		{"right token", map[string]string{"X-Mitosis-Token": "s3cret"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, body := fetch(t, srv.URL+"/_mitosis/state", tt.hdr)
			if code != tt.want {
				t.Fatalf("state = %d %q, want %d", code, body, tt.want)
			}
			if code == http.StatusOK && !strings.Contains(body, `"id": "adm-7"`) {
				t.Fatalf("state body %q does not name the replica", body)
			}
			if code != http.StatusOK && strings.Contains(body, "adm-7") {
				t.Fatalf("a refused state request leaks the document: %q", body)
			}
		})
	}
	if code, _, _ := fetch(t, srv.URL+"/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz with a token set = %d, want 200", code)
	}
	if code, _, _ := fetch(t, srv.URL+"/readyz", nil); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want the health's 503", code)
	}
}

// fakePage is a Page that answers /_mitosis/ with a word.
type fakePage struct{}

func (fakePage) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /_mitosis/{$}", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "the page") })
}

// The page is the one given (the dashboard), and the admin root leads to
// it; without one there is none.
func TestPageAndRedirect(t *testing.T) {
	doc := Doc{State: pool.State{ID: "adm-7"}, Members: []pool.Member{}}
	srv := httptest.NewServer(Handler(Options{Registry: prometheus.NewRegistry(), Health: okHealth{},
		State: func() Doc { return doc }, Page: fakePage{}}))
	t.Cleanup(srv.Close)
	if code, _, body := fetch(t, srv.URL+"/_mitosis/", nil); code != http.StatusOK || body != "the page" {
		t.Fatalf("page = %d %q", code, body)
	}
	if code, hdr, _ := fetch(t, srv.URL+"/", nil); code != http.StatusFound || hdr.Get("Location") != "/_mitosis/" {
		t.Errorf("admin / = %d to %q, want 302 to /_mitosis/", code, hdr.Get("Location"))
	}
	if code, _, body := fetch(t, srv.URL+"/metrics", nil); code != http.StatusOK || !strings.Contains(body, "promhttp_metric_handler_errors_total") {
		t.Errorf("/metrics = %d, want 200 with the handler's own error counter", code)
	}
	bare := testServer(t, "")
	if code, _, _ := fetch(t, bare.URL+"/_mitosis/", nil); code != http.StatusNotFound {
		t.Errorf("page without one given = %d, want 404", code)
	}
}

// The targets, like the state, need the token.
func TestTargetsNeedToken(t *testing.T) {
	srv := testServer(t, "s3cret")
	if code, _, body := fetch(t, srv.URL+"/_mitosis/targets", nil); code != http.StatusUnauthorized || strings.Contains(body, "adm-7") {
		t.Errorf("targets without the token = %d %q", code, body)
	}
	code, _, body := fetch(t, srv.URL+"/_mitosis/targets", map[string]string{"Authorization": "Bearer s3cret"})
	if code != http.StatusOK || !strings.Contains(body, `"mitosis_replica":"adm-7"`) {
		t.Errorf("targets with a bearer token = %d %q", code, body)
	}
}

// Check is mitosis healthcheck: nil on 200, an error naming the path and
// status otherwise; a wildcard host means this machine.
func TestCheck(t *testing.T) {
	srv := testServer(t, "")
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	if err := Check(context.Background(), ":"+port, false); err != nil {
		t.Errorf("Check /healthz on :%s = %v, want nil", port, err)
	}
	err := Check(context.Background(), "0.0.0.0:"+port, true)
	if err == nil || !strings.Contains(err.Error(), "/readyz") || !strings.Contains(err.Error(), "503") {
		t.Errorf("Check /readyz = %v, want an error naming /readyz and 503", err)
	}
}
