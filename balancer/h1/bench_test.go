package h1

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

const helloResponse = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!"

// helloUpstream is an app that allocates nothing per request, so that
// -benchmem counts the proxy's allocations only.
func helloUpstream(b testing.TB) *rawUpstream {
	resp := []byte(helloResponse)
	return newRawUpstream(b, func(c net.Conn, br *bufio.Reader) {
		_ = c.SetDeadline(time.Time{})
		for {
			if _, err := readHeadRaw(br); err != nil {
				return
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
}

// readHeadRaw waits for a whole head in br, discards it and returns the
// value of its Content-Length (0 without one).
func readHeadRaw(br *bufio.Reader) (int, error) {
	from := 0
	for {
		buf, _ := br.Peek(br.Buffered())
		if n, next := findHeadEnd(buf, from); n > 0 {
			cl := 0
			if i := bytes.Index(buf[:n], []byte("Content-Length: ")); i >= 0 {
				for _, c := range buf[i+16 : n] {
					if c < '0' || c > '9' {
						break
					}
					cl = cl*10 + int(c-'0')
				}
			}
			_, _ = br.Discard(n)
			return cl, nil
		} else {
			from = next
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return 0, err
		}
	}
}

// benchOn sends GETs on one connection dial makes and reads each
// response.
func benchOn(b *testing.B, dial func() (net.Conn, error), next func() bool) {
	c, err := dial()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET /hello HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	for next() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n, err := readHeadRaw(br)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := br.Discard(n); err != nil || n != 13 {
			b.Fatalf("body of %d bytes: %v", n, err)
		}
	}
}

func runBench(b *testing.B, addr string) {
	runBenchOn(b, func() (net.Conn, error) { return net.Dial("tcp", addr) })
}

func runBenchOn(b *testing.B, dial func() (net.Conn, error)) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		benchOn(b, dial, func() bool { i++; return i <= b.N })
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) { benchOn(b, dial, pb.Next) })
	})
}

// BenchmarkFastPath: client → Server → app over loopback.
func BenchmarkFastPath(b *testing.B) {
	up := helloUpstream(b)
	p := startProxy(b, up.addr(), nil)
	runBench(b, p.Addr)
}

// BenchmarkReverseProxy: the same through net/http's server and
// httputil.ReverseProxy, for comparison.
func BenchmarkReverseProxy(b *testing.B) {
	up := helloUpstream(b)
	target := &url.URL{Scheme: "http", Host: up.addr()}
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: tr,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	defer srv.Close()
	runBench(b, ln.Addr().String())
}
