package h1

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestGuardUpstream: net/http's Transport over guarded connections never
// takes bytes an app sent past the end of a response (no body, or past
// its length; with the answer or later, while the connection idles) for
// the answer to the next request.
func TestGuardUpstream(t *testing.T) {
	tests := []struct {
		name, method, answer string
		late                 bool
	}{
		{"HEAD with a body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHELLO" + poison, false},
		{"204 with bytes", "GET", "HTTP/1.1 204 No Content\r\n\r\n" + poison, false},
		{"304 with bytes", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n" + poison, false},
		{"100 then 204 with bytes", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n" + poison, false},
		{"chunked then bytes", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" + poison, false},
		{"longer than declared", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + poison, false},
		{"HEAD then late bytes", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true},
		{"204 then late bytes", "GET", "HTTP/1.1 204 No Content\r\n\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, sendLate := craftedUpstream(t, tt.answer, tt.late)
			var d net.Dialer
			tr := &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
				c, err := d.DialContext(ctx, n, a)
				if err != nil {
					return nil, err
				}
				return GuardUpstream(c), nil
			}, MaxIdleConnsPerHost: 4}
			t.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: tr}
			req, _ := http.NewRequest(tt.method, "http://"+up.addr()+"/", nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			sendLate()
			for i := 0; i < 3; i++ {
				resp, err := client.Get("http://" + up.addr() + "/next")
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "fresh" || strings.Contains(string(b), "POISON") {
					t.Fatalf("request %d got %q, want the app's fresh answer", i, b)
				}
			}
		})
	}
}
