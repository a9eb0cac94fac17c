package h1

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// recordingFallback is a fallback handler that records every request it
// got (method, target, body or body error) and answers "seen".
type recordingFallback struct {
	mu   sync.Mutex
	seen []string
}

func (f *recordingFallback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	s := r.Method + " " + r.RequestURI + " " + string(body)
	if err != nil {
		s += " (body error)"
	}
	f.mu.Lock()
	f.seen = append(f.seen, s)
	f.mu.Unlock()
	_, _ = io.WriteString(w, "seen")
}

func (f *recordingFallback) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

// TestGuardedFallback: whatever reaches net/http (handed off by the fast
// path, or everything when there is no upstream) was framed unambiguously;
// a head that was not is answered 400, the connection closes, and nothing
// after it reaches the app.
func TestGuardedFallback(t *testing.T) {
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"
	tests := []struct {
		name  string
		send  string
		codes []int    // statuses the client reads, in order
		seen  []string // requests the fallback handler saw
		open  bool     // the connection stays open after them
	}{
		{
			name:  "CL and TE",
			send:  "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			codes: []int{400},
		},
		{
			name:  "TE with a vertical tab",
			send:  "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0bchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled,
			codes: []int{400},
		},
		{
			name:  "TE twice",
			send:  "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + smuggled,
			codes: []int{400},
		},
		{
			name:  "TE in HTTP/1.0",
			send:  "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled,
			codes: []int{400},
		},
		{
			name:  "CL twice",
			send:  "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + smuggled,
			codes: []int{400},
		},
		{
			name:  "long method",
			send:  strings.Repeat("M", 5000) + " / HTTP/1.1\r\nHost: h\r\n\r\n",
			codes: []int{400},
		},
		{
			name:  "bad request after a good one",
			send:  "GET http://h/one HTTP/1.1\r\nHost: h\r\n\r\nPOST /two HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			codes: []int{200, 400},
			seen:  []string{"GET http://h/one "},
		},
		{
			name:  "chunked bodies followed",
			send:  "POST http://h/one HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nPOST http://h/two HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy" + smuggled,
			codes: []int{200, 200, 200},
			seen:  []string{"POST http://h/one abc", "POST http://h/two xy", "GET /smuggled "},
			open:  true,
		},
		{
			name:  "chunk size with bare LF",
			send:  "POST http://h/one HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n" + smuggled,
			codes: []int{200},
			seen:  []string{"POST http://h/one  (body error)"},
		},
		{
			name:  "chunk overrun",
			send:  "POST http://h/one HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcGET /x HTTP/1.1\r\n\r\n" + smuggled,
			codes: []int{200},
			seen:  []string{"POST http://h/one abc (body error)"},
		},
	}
	for _, mode := range []string{"handed off", "no upstream"} {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				fb := &recordingFallback{}
				up := helloUpstream(t)
				p := startProxy(t, up.addr(), func(c *Config, s *http.Server) {
					if mode == "no upstream" {
						c.Upstream = ""
					}
					s.Handler = fb
				})
				c := dialRaw(t, p.Addr)
				c.send(tt.send)
				for i, want := range tt.codes {
					resp, _ := c.read("GET")
					if resp.StatusCode != want {
						t.Fatalf("response %d: status %d, want %d", i, resp.StatusCode, want)
					}
				}
				if c.closed() == tt.open {
					t.Errorf("connection closed: %v, want %v", !tt.open, tt.open)
				}
				if got := fb.got(); strings.Join(got, "|") != strings.Join(tt.seen, "|") {
					t.Errorf("the app saw %q, want %q", got, tt.seen)
				}
			})
		}
	}
}
