// Command idleconns opens N keep-alive connections to one address, sends
// one GET on each, reads the answer and then keeps every connection open
// and idle. It prints "ready <n> <failed>" on stdout once all are
// established, then holds them until stdin is closed, a signal arrives or
// -hold runs out (so a forgotten helper cannot live forever).
//
// The harness uses it to measure the memory a proxy spends per idle client
// connection. The caller must raise the open-file limit (ulimit -n) above N.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19000", "host:port to connect to")
	path := flag.String("path", "/", "request path")
	n := flag.Int("n", 10000, "connections to open")
	par := flag.Int("parallel", 200, "connections being opened at once (bounded so the listen backlog is not overrun)")
	hold := flag.Duration("hold", 2*time.Minute, "longest time the connections are held")
	flag.Parse()
	if *n < 1 || *n > 100000 || *par < 1 || *hold <= 0 {
		fmt.Fprintf(os.Stderr, "idleconns: -n = %d must be in [1; 100000], -parallel = %d must be >= 1, -hold = %s must be > 0\n", *n, *par, *hold)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *hold)
	defer cancel()

	conns, failed := open(*addr, *path, *n, *par)
	fmt.Printf("ready %d %d\n", len(conns), failed)
	go func() { // stdin closed: the harness is done with us
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	<-ctx.Done()
	for _, c := range conns {
		_ = c.Close()
	}
}

// open dials n connections, at most par at a time, and returns those whose
// request got a 2xx answer with the connection left open.
func open(addr, path string, n, par int) ([]net.Conn, int) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	var mu sync.Mutex
	conns := make([]net.Conn, 0, n)
	var failed atomic.Int64
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				failed.Add(1)
				return
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			ok := false
			if _, err := c.Write(req); err == nil {
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					ok = err == nil && !resp.Close && resp.StatusCode/100 == 2
				}
			}
			if !ok {
				_ = c.Close()
				failed.Add(1)
				return
			}
			_ = c.SetDeadline(time.Time{})
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return conns, int(failed.Load())
}
