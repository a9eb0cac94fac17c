package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// poison is a complete response an app sends where none belongs: a proxy
// that reuses the connection serves it to the next client.
const poison = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON"

// TestNoBodyResponseFollowedByBytes: bytes that follow a response without
// a body (or a body's declared end), in the same segment or later while
// the connection sits in the pool, never reach another request: the
// upstream connection is closed instead of reused (RFC 9112 §6.3).
func TestNoBodyResponseFollowedByBytes(t *testing.T) {
	tests := []struct {
		name, method, target, answer string
		late                         bool // the stray bytes come after the answer, while the connection idles
	}{
		{name: "HEAD with length", method: "HEAD", target: "/", answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHELLO" + poison},
		{name: "204 with bytes", method: "GET", target: "/", answer: "HTTP/1.1 204 No Content\r\n\r\n" + poison},
		{name: "304 with bytes", method: "GET", target: "/", answer: "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n" + poison},
		{name: "body longer than declared", method: "GET", target: "/", answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + poison},
		{name: "HEAD then late bytes", method: "HEAD", target: "/", answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", late: true},
		{name: "204 then late bytes", method: "GET", target: "/", answer: "HTTP/1.1 204 No Content\r\n\r\n", late: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, sendLate := craftedUpstream(t, tt.answer, tt.late)
			p := startProxy(t, up.addr(), nil)
			a := dialRaw(t, p.Addr)
			a.send(tt.method + " " + tt.target + " HTTP/1.1\r\nHost: h\r\n\r\n")
			resp, _ := a.read(tt.method)
			if resp.StatusCode >= 300 && resp.StatusCode != 304 {
				t.Fatalf("first answer %d", resp.StatusCode)
			}
			sendLate()
			// Another client, on a fresh connection, and the first one
			// again: neither ever sees the stray response.
			for i, c := range []*rawConn{dialRaw(t, p.Addr), a} {
				c.send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
				resp, body := c.read("GET")
				if body != "fresh" || strings.Contains(body, "POISON") {
					t.Fatalf("client %d got %d %q, want the app's fresh answer", i, resp.StatusCode, body)
				}
			}
			if n := up.Conns.Load(); n < 2 {
				t.Errorf("upstream connections = %d: the one with stray bytes was reused", n)
			}
		})
	}
}

// craftedUpstream answers the first request it gets with answer, and any
// later one, on any connection, with "fresh". With late, it sends poison
// on the first connection when sendLate is called (which returns once it
// is sent); without, sendLate does nothing.
func craftedUpstream(t *testing.T, answer string, late bool) (up *rawUpstream, sendLate func()) {
	var crafted atomic.Bool
	send, sent := make(chan struct{}), make(chan struct{})
	up = newRawUpstream(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if crafted.Swap(true) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
				continue
			}
			io.WriteString(c, answer)
			if late {
				<-send // the client has the answer: now the stray bytes
				io.WriteString(c, poison)
				close(sent)
			}
		}
	})
	return up, func() {
		if late {
			close(send)
			<-sent
		}
	}
}
