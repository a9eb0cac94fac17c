package conformance

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/wait"
)

// paths are the transports a request can take: the h1 fast path (an
// upstream given as host:port) and net/http (MITOSIS_ACCESS_LOG=true sends
// every request through the logging handler), each on the plain listener
// and over TLS (HTTP/1.1 on the HTTPS listener).
var paths = []struct {
	name string
	env  []string
	tls  bool
}{
	{name: "fast path"},
	{name: "net/http", env: []string{"MITOSIS_ACCESS_LOG=true"}},
	{name: "fast path over TLS", tls: true},
	{name: "net/http over TLS", env: []string{"MITOSIS_ACCESS_LOG=true"}, tls: true},
}

// echo answers with the method, target and body the upstream saw.
func echo(req *http.Request, body []byte, _ net.Conn) []byte {
	return ok(req.Method + " " + req.RequestURI + " " + string(body))
}

func eachPath(t *testing.T, answer answerFunc, env []string, run func(t *testing.T, r *replica, up *rawUpstream)) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			up := newRawUpstream(t, answer)
			e := append([]string{"MITOSIS_UPSTREAM=http://" + up.addr()}, p.env...)
			if !p.tls {
				run(t, startMitosis(t, append(e, env...)...), up)
				return
			}
			addr, tlsEnv, cfg := tlsListener(t)
			r := startMitosis(t, append(append(e, tlsEnv...), env...)...)
			r.tlsAddr, r.tlsCfg = addr, cfg
			run(t, r, up)
		})
	}
}

const smuggled = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"

// TestSmuggling: a request whose framing two parsers could read apart is
// answered 400 and its connection closed; the upstream never sees it nor
// what follows it.
func TestSmuggling(t *testing.T) {
	cases := []struct{ name, raw string }{
		{"CL and TE", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE and CL", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE vertical tab", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE space before colon", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE folded", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE list", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE twice", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE unknown", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TE in HTTP/1.0", "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled},
		{"CL twice equal", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + smuggled},
		{"CL twice different", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 0\r\n\r\nhello" + smuggled},
		{"CL list", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello" + smuggled},
		{"CL sign", "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello" + smuggled},
		{"bare CR in a field", "GET /a HTTP/1.1\r\nHost: h\r\nX: a\rContent-Length: 5\r\n\r\nhello" + smuggled},
		{"obs-fold", "GET /a HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n" + smuggled},
		{"5000-byte method", strings.Repeat("M", 5000) + " /a HTTP/1.1\r\nHost: h\r\n\r\n" + smuggled},
		{"bare LF after chunk size", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" + smuggled},
		{"chunk overrun", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcGET /x HTTP/1.1\r\n\r\n0\r\n\r\n" + smuggled},
		{"bad chunk size", "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + smuggled},
	}
	eachPath(t, echo, nil, func(t *testing.T, r *replica, up *rawUpstream) {
		for _, tt := range cases {
			t.Run(tt.name, func(t *testing.T) {
				c := r.dial(t)
				c.send(tt.raw)
				resp, _ := c.read("POST")
				if resp.StatusCode != 400 {
					t.Errorf("status %d, want 400", resp.StatusCode)
				}
				if !c.closed(2 * time.Second) {
					t.Error("connection left open")
				}
			})
		}
		if got := up.requests(); len(got) != 0 {
			t.Errorf("the upstream saw %q, want nothing", got)
		}
	})
}

// TestLenientButSafe: what is valid, if unusual, goes through, and the
// upstream gets it framed one way only.
func TestLenientButSafe(t *testing.T) {
	eachPath(t, echo, nil, func(t *testing.T, r *replica, up *rawUpstream) {
		c := r.dial(t)
		c.send("POST /a HTTP/1.1\nHost: h\nTransfer-Encoding: CHUNKED\n\n5\r\nhello\r\n0\r\n\r\n")
		if resp, body := c.read("POST"); resp.StatusCode != 200 || body != "POST /a hello" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
		got := up.received()
		if strings.Count(got, "Content-Length")+strings.Count(got, "Transfer-Encoding") != 1 || strings.Contains(got, "\n\n") {
			t.Errorf("the upstream got ambiguous framing or bare LFs:\n%q", got)
		}
	})
}

// TestNoBodyResponseStrayBytes: bytes an app sends after a response that
// has no body (or past its length) never reach another client.
func TestNoBodyResponseStrayBytes(t *testing.T) {
	const poison = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON"
	cases := []struct {
		name, method, answer string
		late                 bool
	}{
		{"HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHELLO" + poison, false},
		{"204", "GET", "HTTP/1.1 204 No Content\r\n\r\n" + poison, false},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\n\r\n" + poison, false},
		{"longer than declared", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + poison, false},
		{"HEAD then late", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true},
		{"204 then late", "GET", "HTTP/1.1 204 No Content\r\n\r\n", true},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			var first atomic.Bool
			sendLate, lateSent := make(chan struct{}), make(chan struct{})
			answer := func(req *http.Request, _ []byte, c net.Conn) []byte {
				if req.URL.Path != "/crafted" || first.Swap(true) {
					return ok("fresh")
				}
				if tt.late {
					go func() {
						<-sendLate
						_, _ = io.WriteString(c, poison)
						close(lateSent)
					}()
				}
				return []byte(tt.answer)
			}
			eachPath(t, answer, nil, func(t *testing.T, r *replica, up *rawUpstream) {
				first.Store(false)
				if tt.late {
					sendLate, lateSent = make(chan struct{}), make(chan struct{})
				}
				a := r.dial(t)
				a.send(tt.method + " /crafted HTTP/1.1\r\nHost: h\r\n\r\n")
				a.read(tt.method)
				if tt.late {
					close(sendLate)
					<-lateSent
				}
				for i := 0; i < 3; i++ { // fresh connections, and the first one again
					c := a
					if i < 2 {
						c = r.dial(t)
					}
					c.send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
					if resp, body := c.read("GET"); body != "fresh" {
						t.Fatalf("request %d got %d %q: the stray bytes reached a client", i, resp.StatusCode, body)
					}
				}
			})
		})
	}
}

// TestPipelining: requests sent together are answered in order, on the
// fast path, on net/http, and across a handoff from one to the other.
func TestPipelining(t *testing.T) {
	eachPath(t, echo, nil, func(t *testing.T, r *replica, up *rawUpstream) {
		c := r.dial(t)
		c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" +
			"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
			"GET http://h/3 HTTP/1.1\r\nHost: h\r\n\r\n" + // absolute form: handed off
			"POST /4 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" +
			"GET /5 HTTP/1.1\r\nHost: h\r\n\r\n")
		want := []string{"GET /1 ", "POST /2 abc", "GET /3 ", "POST /4 de", "GET /5 "}
		for i, w := range want {
			method := strings.Fields(w)[0]
			if resp, body := c.read(method); resp.StatusCode != 200 || body != w {
				t.Fatalf("response %d: %d %q, want %q", i, resp.StatusCode, body, w)
			}
		}
	})
}

// TestSlowBody: a body that does not come holds no slot (MAX_INFLIGHT=1:
// another request is served meanwhile) and gets 408 after the body
// timeout; the upstream never sees it.
func TestSlowBody(t *testing.T) {
	env := []string{"MITOSIS_MAX_INFLIGHT=1", "MITOSIS_BODY_TIMEOUT=1s"}
	eachPath(t, echo, env, func(t *testing.T, r *replica, up *rawUpstream) {
		slow := r.dial(t)
		slow.send("POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nonly ten b")
		c := r.dial(t)
		c.send("GET /other HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "GET /other " {
			t.Errorf("other client: %d %q", resp.StatusCode, body)
		}
		start := time.Now()
		resp, _ := slow.read("POST")
		if resp.StatusCode != 408 || !resp.Close {
			t.Errorf("slow body: %d close=%v, want 408 and close", resp.StatusCode, resp.Close)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("408 after %s", d)
		}
		for _, req := range up.requests() {
			if strings.Contains(req, "/slow") {
				t.Errorf("the upstream saw the slow request")
			}
		}
	})
}

// TestSlowReader: a client that never reads a large response gives its
// slot back as soon as a write to it stalls (MAX_INFLIGHT=1: another
// request is served meanwhile), and its connection closes after the write
// timeout.
func TestSlowReader(t *testing.T) {
	big := func(req *http.Request, _ []byte, c net.Conn) []byte {
		if req.URL.Path != "/big" {
			return ok("small")
		}
		const n = 50 << 20
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n")
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				return nil
			}
		}
		return []byte{}
	}
	env := []string{"MITOSIS_MAX_INFLIGHT=1", "MITOSIS_WRITE_TIMEOUT=2s"}
	eachPath(t, big, env, func(t *testing.T, r *replica, up *rawUpstream) {
		stuck := r.dial(t)
		stuck.send("GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
		waitFor(t, "the stalled response to give its slot back", 5*time.Second, func() bool {
			return r.metric(t, "mitosis_delivering") == 1 && r.metric(t, "mitosis_inflight") == 0
		})
		c := r.dial(t)
		c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "small" {
			t.Errorf("other client: %d %q", resp.StatusCode, body)
		}
		waitFor(t, "the write timeout to end the stalled response", 10*time.Second, func() bool {
			return r.metric(t, "mitosis_delivering") == 0
		})
		// Cut off: what the client can still read ends before the body does.
		n, _ := io.Copy(io.Discard, stuck.br)
		if n >= 50<<20 {
			t.Errorf("the client read %d bytes: the response was not cut off", n)
		}
	})
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	if !wait.Until(within, 20*time.Millisecond, cond) {
		t.Fatalf("%s: not within %s", what, within)
	}
}

// TestSlowloris: a client that connects and sends nothing, or dribbles
// its head, is cut READ_HEADER_TIMEOUT after it connected.
func TestSlowloris(t *testing.T) {
	env := []string{"MITOSIS_READ_HEADER_TIMEOUT=1s"}
	eachPath(t, echo, env, func(t *testing.T, r *replica, up *rawUpstream) {
		silent := r.dial(t)
		dribbler := r.dial(t)
		start := time.Now()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			head := "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < len(head); i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := dribbler.Write([]byte{head[i]}); err != nil {
					return
				}
			}
		}()
		for name, c := range map[string]*client{"silent": silent, "dribbling": dribbler} {
			if !c.closed(6 * time.Second) {
				t.Errorf("%s connection still open", name)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("%s connection cut after %s, want about 1s", name, d)
			}
		}
		close(stop)
		wg.Wait()
	})
}

// TestConnectionLimit: above MAX_CONNS a new connection gets 503 at once
// and is closed.
func TestConnectionLimit(t *testing.T) {
	eachPath(t, echo, []string{"MITOSIS_MAX_CONNS=3"}, func(t *testing.T, r *replica, up *rawUpstream) {
		for i := 0; i < 3; i++ {
			c := r.dial(t)
			c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			c.read("GET")
		}
		if r.tlsCfg != nil {
			// Over TLS: closed at once, without a handshake to pay for.
			if c, err := tls.Dial("tcp", r.tlsAddr, r.tlsCfg); err == nil {
				c.Close()
				t.Error("a handshake above the limit")
			}
			return
		}
		over := r.dial(t)
		resp, body := over.read("GET")
		if resp.StatusCode != 503 || !resp.Close || !strings.Contains(body, "too many connections") {
			t.Errorf("over the limit: %d %q", resp.StatusCode, body)
		}
		if !over.closed(2 * time.Second) {
			t.Error("refused connection left open")
		}
	})
}

// TestConnect: CONNECT is refused with 405, never tunnelled nor passed on.
func TestConnect(t *testing.T) {
	eachPath(t, echo, nil, func(t *testing.T, r *replica, up *rawUpstream) {
		c := r.dial(t)
		c.send("CONNECT 10.0.0.1:22 HTTP/1.1\r\nHost: 10.0.0.1:22\r\n\r\n")
		if resp, _ := c.read("CONNECT"); resp.StatusCode != 405 || !resp.Close {
			t.Errorf("got %d close=%v, want 405 and close", resp.StatusCode, resp.Close)
		}
		if got := up.requests(); len(got) != 0 {
			t.Errorf("the upstream saw %q", got)
		}
	})
}

// TestFramingTrailers: a trailer that frames, routes or describes the
// message never reaches the upstream.
func TestFramingTrailers(t *testing.T) {
	eachPath(t, echo, nil, func(t *testing.T, r *replica, up *rawUpstream) {
		c := r.dial(t)
		c.send("POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
			"5\r\nhello\r\n0\r\nContent-Length: 999\r\nHost: evil.example\r\nX-Sum: 5\r\n\r\n")
		if resp, body := c.read("POST"); resp.StatusCode != 200 || body != "POST /t hello" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
		got := up.received()
		if strings.Contains(got, "999") || strings.Contains(got, "evil.example") {
			t.Errorf("a framing trailer reached the upstream:\n%q", got)
		}
	})
}

// TestExpectContinue: the client gets 100 Continue at once, and the
// upstream never sees Expect (nor makes anyone wait for its own 100).
func TestExpectContinue(t *testing.T) {
	eachPath(t, echo, nil, func(t *testing.T, r *replica, up *rawUpstream) {
		c := r.dial(t)
		c.send("PUT /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		start := time.Now()
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil || resp.StatusCode != 100 {
			t.Fatalf("want 100 Continue, got %v %v", resp, err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("100 Continue after %s", d)
		}
		c.send("hello")
		if resp, body := c.read("PUT"); resp.StatusCode != 200 || body != "PUT /e hello" {
			t.Errorf("got %d %q", resp.StatusCode, body)
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Errorf("answer after %s: something waited for a 100 from the app", d)
		}
		if strings.Contains(strings.ToLower(up.received()), "expect") {
			t.Error("Expect reached the upstream")
		}
	})
}

// TestHopSpoofing: with the default settings a client's X-Mitosis-Hop and
// friends change nothing the upstream sees, and the client never sees
// X-Mitosis-Load.
func TestHopSpoofing(t *testing.T) {
	eachPath(t, echo, nil, func(t *testing.T, r *replica, up *rawUpstream) {
		c := r.dial(t)
		c.send("GET /h HTTP/1.1\r\nHost: front.example\r\nX-Mitosis-Hop: evil\r\nX-Mitosis-Token: guess\r\n" +
			"X-Forwarded-For: 203.0.113.66\r\nX-Forwarded-Proto: https\r\nForwarded: for=203.0.113.66\r\n\r\n")
		resp, _ := c.read("GET")
		if v := resp.Header.Values("X-Mitosis-Load"); len(v) != 0 {
			t.Errorf("the client got X-Mitosis-Load %q", v)
		}
		got := up.received()
		if strings.Contains(got, "X-Mitosis-") || strings.Contains(got, "203.0.113.66") || !strings.Contains(got, "X-Forwarded-For: 127.0.0.1\r\n") {
			t.Errorf("the upstream saw a spoofed hop:\n%s", got)
		}
		proto := "http"
		if r.tlsCfg != nil {
			proto = "https"
		}
		if strings.Count(got, "X-Forwarded-Proto") != 1 || !strings.Contains(got, "X-Forwarded-Proto: "+proto+"\r\n") {
			t.Errorf("the upstream did not see X-Forwarded-Proto %s alone:\n%s", proto, got)
		}
	})
}
