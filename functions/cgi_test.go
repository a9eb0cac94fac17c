package functions

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestRequestEnv(t *testing.T) {
	r := httptest.NewRequest("POST", "http://example.com:8080/record/a/b?x=1&y=2", strings.NewReader("vote=a"))
	r.RemoteAddr = "10.0.0.9:5555"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Add("Cookie", "voter_id=v1")
	r.Header.Add("Cookie", "theme=dark")
	r.Header.Add("Accept", "text/html")
	r.Header.Add("Accept", "*/*")
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	f := &Function{Name: "/record", Path: "/record", Image: "voting:1"}
	env, err := requestEnv(r, f, 6, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	m := envMap(env)
	want := map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST", "SCRIPT_NAME": "/record", "PATH_INFO": "/a/b",
		"QUERY_STRING": "x=1&y=2", "REQUEST_URI": "/record/a/b?x=1&y=2", "CONTENT_LENGTH": "6",
		"CONTENT_TYPE": "application/x-www-form-urlencoded", "SERVER_NAME": "example.com", "SERVER_PORT": "8080",
		"REMOTE_ADDR": "10.0.0.9", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_COOKIE": "voter_id=v1; theme=dark",
		"HTTP_ACCEPT": "text/html, */*", "HTTP_X_FORWARDED_FOR": "203.0.113.7",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if _, ok := m["HTTP_CONTENT_TYPE"]; ok {
		t.Error("Content-Type passed twice")
	}
}

// TestRequestEnvHostileHeaders: no header name can set a variable that
// is not HTTP_*, carry '=' into a name, or reach the function as a
// container option; the tier's own and the hop-by-hop headers never pass.
func TestRequestEnvHostileHeaders(t *testing.T) {
	r := httptest.NewRequest("GET", "/record", nil)
	hostile := map[string]string{
		"Path":                   "/evil", // becomes HTTP_PATH, never PATH
		"Ld-Preload":             "/tmp/x.so",
		"Proxy":                  "http://attacker:3128", // httpoxy
		"X-Mitosis-Hop":          "1",
		"X-Mitosis-Token":        "secret",
		"Connection":             "close",
		"Transfer-Encoding":      "chunked",
		"A=B":                    "x",    // '=' in the name
		"X_Underscore":           "x",    // '_' would alias X-Underscore
		"Foo Bar":                "x",    // space
		"--privileged":           "true", // looks like an option: data in HTTP___PRIVILEGED
		"X-Nul":                  "a\x00b",
		"X-Newline":              "a\nb",
		"Docker-Image":           "evil:latest",
		"X-Container-Privileged": "true",
	}
	for k, v := range hostile {
		r.Header[k] = []string{v}
	}
	f := &Function{Name: "/record", Path: "/record", Image: "voting:1"}
	env, err := requestEnv(r, f, 0, 32<<10)
	if err != nil {
		t.Fatal(err)
	}
	fixed := []string{"GATEWAY_INTERFACE", "SERVER_SOFTWARE", "SERVER_PROTOCOL", "SERVER_NAME", "SERVER_PORT",
		"REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REMOTE_ADDR"}
	m := envMap(env)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "HTTP_") && !slices.Contains(fixed, k) {
			t.Errorf("variable %q set from a request", k)
		}
		for _, c := range k {
			if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
				t.Errorf("variable name %q holds %q", k, c)
			}
		}
	}
	for _, k := range []string{"PATH", "LD_PRELOAD", "HTTP_PROXY", "HTTP_X_MITOSIS_HOP", "HTTP_X_MITOSIS_TOKEN", "HTTP_CONNECTION",
		"HTTP_TRANSFER_ENCODING", "HTTP_X_UNDERSCORE", "HTTP_X_NUL", "HTTP_X_NEWLINE"} {
		if _, ok := m[k]; ok {
			t.Errorf("%s passed", k)
		}
	}
	if m["HTTP_PATH"] != "/evil" || m["HTTP_LD_PRELOAD"] != "/tmp/x.so" || m["HTTP_DOCKER_IMAGE"] != "evil:latest" ||
		m["HTTP___PRIVILEGED"] != "true" {
		t.Errorf("plain headers not passed as data: %v", env)
	}
}

func TestRequestEnvLimits(t *testing.T) {
	f := &Function{Name: "/f", Path: "/f", Image: "f:1"}
	big := httptest.NewRequest("GET", "/f", nil)
	big.Header.Set("X-Big", strings.Repeat("a", 40<<10))
	if _, err := requestEnv(big, f, 0, 32<<10); err == nil {
		t.Error("a 40 KiB header: no error")
	}
	many := httptest.NewRequest("GET", "/f", nil)
	for i := range maxEnvHeaders + 1 {
		many.Header.Set("X-H"+strings.Repeat("x", i%50)+string(rune('a'+i/50)), "1")
	}
	if _, err := requestEnv(many, f, 0, 1<<20); err == nil {
		t.Errorf("%d headers: no error", len(many.Header))
	}
}

func TestParseOutput(t *testing.T) {
	tests := []struct {
		name   string
		out    string
		status int
		header http.Header
		body   string
	}{
		{"plain", "hello\nworld", 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "hello\nworld"},
		{"not a block", "Result: ok\n\nmore", 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "Result: ok\n\nmore"},
		{"content type", "Content-Type: application/json\n\n{}", 200, http.Header{"Content-Type": {"application/json"}}, "{}"},
		{"status crlf", "Status: 404 Not Found\r\nX-A: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nnope", 404,
			http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-A": {"1"}, "Set-Cookie": {"a=1", "b=2"}}, "nope"},
		{"location", "status: 303\nLocation: /\n\n", 303, http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "Location": {"/"}}, ""},
		{"location alone", "Content-Type: text/html\nLocation: /x\n\n", 302, http.Header{"Content-Type": {"text/html"}, "Location": {"/x"}}, ""},
		{"framing dropped", "Status: 200\nContent-Length: 99\nTransfer-Encoding: chunked\nConnection: close\nX-Mitosis-Replica: fake\n\nok", 200,
			http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "ok"},
	}
	for _, tt := range tests {
		status, h, body, err := parseOutput([]byte(tt.out))
		if err != nil || status != tt.status || string(body) != tt.body || !equalHeader(h, tt.header) {
			t.Errorf("%s: parseOutput = %d %v %q %v; want %d %v %q", tt.name, status, h, body, err, tt.status, tt.header, tt.body)
		}
	}
	for _, bad := range []string{
		"Status: 200\nno blank line",
		"Status: 99\n\n",
		"Status: 600\n\n",
		"Status: abc\n\n",
		"Content-Type: text/plain\nBad Name: x\n\n",
		"Content-Type: text/plain\nX: a\x01b\n\n",
		"Status: 200\n" + strings.Repeat("X-A: 1\n", 4000) + "\n",
	} {
		if _, _, _, err := parseOutput([]byte(bad)); err == nil {
			t.Errorf("parseOutput(%.40q): no error", bad)
		}
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
