package balancer

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/pool"
)

// nopWriter is a ResponseWriter that keeps nothing, so -benchmem counts
// the Handler's allocations only.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkServeHTTPLocal: Handler.ServeHTTP in process, served locally,
// in front of an app that writes a constant body.
func BenchmarkServeHTTPLocal(b *testing.B) {
	body := []byte("Hello, World!")
	app := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })
	h, err := New(testConfig(64, 64, time.Second), app, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	hdr := req.Header.Clone()
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(req.Header)
		for k, v := range hdr {
			req.Header[k] = v
		}
		h.ServeHTTP(w, req)
	}
}

// helloApp is an app on a real socket that answers every request on a
// connection with a fixed 13-byte body and allocates nothing per request.
func helloApp(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := readHead(br); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readHead discards one request head (no body) or a response head and
// returns its Content-Length.
func readHead(br *bufio.Reader) (int, error) {
	cl := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			return cl, nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			cl, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
}

// benchGET sends keep-alive GETs on one connection: one request in flight
// per connection, as wrk does.
func benchGET(b *testing.B, addr string, hdr string, next func() bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Error(err)
		return
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n" + hdr + "\r\n")
	for next() {
		if _, err := c.Write(req); err != nil {
			b.Error(err)
			return
		}
		n, err := readHead(br)
		if err == nil {
			_, err = br.Discard(n)
		}
		if err != nil || n != 13 {
			b.Errorf("body of %d bytes: %v", n, err)
			return
		}
	}
}

// BenchmarkProxied: a GET proxied to an app on loopback through the h1
// fast path with the Handler as its hooks (as main wires it), as a hop
// from a sibling on the fast path, and through the net/http fallback
// (Handler in front of httputil.ReverseProxy). Allocations per request
// include the app's and the client's, which allocate nothing.
func BenchmarkProxied(b *testing.B) {
	app := helloApp(b)
	cases := []struct {
		name, hdr string
		netHTTP   bool // the Handler served by net/http alone
		forward   bool // through a replica whose slot is held to a sibling
	}{
		{name: "fast"},
		{name: "fast-hop", hdr: "X-Mitosis-Hop: a\r\n"},
		{name: "fast-forward", forward: true},
		{name: "net-http", netHTTP: true},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testConfig(64, 64, time.Second)
			var addr string
			if bc.netHTTP {
				h, err := New(cfg, appProxy(b, app), prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				srv := httptest.NewServer(h)
				b.Cleanup(srv.Close)
				addr = srv.Listener.Addr().String()
			} else if bc.forward {
				cfgB := cfg
				cfgB.ID = "b"
				sib := startFast(b, cfgB, app)
				cfgA := testConfig(1, 64, time.Second)
				cfgA.ID = "a"
				// The pool's own table, as in production (fakeSiblings
				// allocates in Ready).
				sibs := pool.NewStore()
				sibs.Upsert(member("b", sib.addr, 1000))
				front := startFast(b, cfgA, app, WithSiblings(sibs, nil))
				if !front.h.TryAcquireHop() { // every request finds the slot taken
					b.Fatal("no slot")
				}
				addr = front.addr
			} else {
				addr = startFast(b, cfg, app).addr
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				benchGET(b, addr, bc.hdr, func() bool { i++; return i <= b.N })
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(8)
				b.RunParallel(func(pb *testing.PB) { benchGET(b, addr, bc.hdr, pb.Next) })
			})
		})
	}
}
