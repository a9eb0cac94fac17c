package h1

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// echoApp answers with what it received, and with the framing the query
// asks for: ?status=N, ?chunked=1 (streamed in pieces), ?n=BYTES.
func echoApp(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := w.Header()
	h.Set("X-Seen-Method", r.Method)
	h.Set("X-Seen-Proto", r.Proto)
	h.Set("X-Seen-Host", r.Host)
	h.Set("X-Seen-Body", string(body))
	h.Set("X-Seen-Cl", strconv.FormatInt(r.ContentLength, 10))
	h.Set("X-Seen-Te", strings.Join(r.TransferEncoding, ","))
	var names []string
	for k := range r.Header {
		names = append(names, k)
	}
	h.Set("X-Seen-Headers", strings.Join(sortStrings(names), ","))
	h.Set("X-Seen-Xff", r.Header.Get("X-Forwarded-For"))
	h.Set("X-Seen-Xfh", r.Header.Get("X-Forwarded-Host"))
	h.Set("X-Seen-Xfp", r.Header.Get("X-Forwarded-Proto"))
	if r.Trailer != nil {
		h.Set("X-Seen-Trailer", r.Trailer.Get("X-Sum"))
	}
	q := r.URL.Query()
	if s := q.Get("status"); s != "" {
		code, _ := strconv.Atoi(s)
		w.WriteHeader(code)
		if code == 204 || code == 304 {
			return
		}
	}
	if q.Get("chunked") == "1" {
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
		return
	}
	if n := q.Get("n"); n != "" {
		k, _ := strconv.Atoi(n)
		w.Header().Set("Content-Length", n)
		_, _ = w.Write([]byte(strings.Repeat("x", k)))
		return
	}
	_, _ = io.WriteString(w, "hello "+string(body))
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func TestProxyRequests(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), nil)
	tests := []struct {
		name     string
		method   string
		raw      string
		status   int
		body     string
		seenBody string
		seenTE   string
		check    func(t *testing.T, r *http.Response)
	}{
		{name: "GET", method: "GET", raw: "GET /a?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", status: 200, body: "hello "},
		{name: "HEAD", method: "HEAD", raw: "HEAD /?n=5 HTTP/1.1\r\nHost: h\r\n\r\n", status: 200, body: "",
			check: func(t *testing.T, r *http.Response) {
				if r.ContentLength != 5 {
					t.Errorf("HEAD Content-Length = %d, want 5 passed through", r.ContentLength)
				}
			}},
		{name: "POST content-length", method: "POST", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde", status: 200, body: "hello abcde", seenBody: "abcde"},
		{name: "chunked response", method: "GET", raw: "GET /?chunked=1 HTTP/1.1\r\nHost: h\r\n\r\n", status: 200, body: "part0;part1;part2;",
			check: func(t *testing.T, r *http.Response) {
				if len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" {
					t.Errorf("TransferEncoding = %v, want chunked passed through", r.TransferEncoding)
				}
			}},
		{name: "204", method: "GET", raw: "GET /?status=204 HTTP/1.1\r\nHost: h\r\n\r\n", status: 204},
		{name: "304", method: "GET", raw: "GET /?status=304 HTTP/1.1\r\nHost: h\r\n\r\n", status: 304},
		{name: "404 with body", method: "GET", raw: "GET /?status=404 HTTP/1.1\r\nHost: h\r\n\r\n", status: 404, body: "hello "},
		{name: "large body", method: "GET", raw: "GET /?n=100000 HTTP/1.1\r\nHost: h\r\n\r\n", status: 200, body: strings.Repeat("x", 100000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, p.Addr)
			// Twice on one connection: the framing must leave it in sync.
			for i := 0; i < 2; i++ {
				c.send(tt.raw)
				resp, body := c.read(tt.method)
				if resp.StatusCode != tt.status || body != tt.body {
					t.Fatalf("got %d %q, want %d %q", resp.StatusCode, trunc(body), tt.status, trunc(tt.body))
				}
				if resp.Header.Get("X-Fallback") != "" {
					t.Fatal("served by the fallback, want the fast path")
				}
				if got := resp.Header.Get("X-Mitosis-Replica"); got != "r1" {
					t.Errorf("X-Mitosis-Replica = %q, want r1", got)
				}
				if resp.StatusCode == 200 && tt.method != "HEAD" {
					if got := resp.Header.Get("X-Seen-Body"); got != tt.seenBody {
						t.Errorf("app saw body %q, want %q", got, tt.seenBody)
					}
					if got := resp.Header.Get("X-Seen-Te"); got != tt.seenTE {
						t.Errorf("app saw Transfer-Encoding %q, want %q", got, tt.seenTE)
					}
				}
				if tt.check != nil {
					tt.check(t, resp)
				}
			}
		})
	}
	if up.Conns.Load() != 1 {
		t.Errorf("upstream accepted %d connections, want 1 reused throughout", up.Conns.Load())
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func TestNetHTTPClient(t *testing.T) {
	up := newUpstream(t, echoApp)
	p := startProxy(t, up.addr(), nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	for i := 0; i < 5; i++ {
		resp, err := client.Post("http://"+p.Addr+"/p", "text/plain", strings.NewReader("body"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello body"+strconv.Itoa(i) {
			t.Fatalf("body %q", b)
		}
	}
	if got := p.Hooks.Acquired.Load(); got != 5 {
		t.Errorf("fast requests = %d, want 5", got)
	}
	if up.Conns.Load() != 1 {
		t.Errorf("upstream connections = %d, want 1", up.Conns.Load())
	}
	for _, s := range p.Hooks.statuses() {
		if s != 200 {
			t.Errorf("Done status %d, want 200", s)
		}
	}
}
