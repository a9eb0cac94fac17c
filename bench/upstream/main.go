// Command upstream is the shared backend of the benchmark harness: the
// smallest useful HTTP/1.1 app, so that the numbers measure the proxies and
// not the app.
//
//	GET /            "hello world" (11 bytes, text/plain)
//	GET /sleep?ms=N  waits N ms (0..600000), then "slept"; returns early
//	                 when the client goes away, so a held request never
//	                 outlives the measurement that started it.
//
// Every other path answers like /. The server logs nothing per request.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// maxSleep bounds /sleep so that a typo cannot park a request for hours.
const maxSleep = 10 * time.Minute

func main() {
	addr := flag.String("listen", "127.0.0.1:19000", "address to listen on (loopback only)")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("upstream: %v", err)
	}
	srv := &http.Server{Handler: handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(os.Stderr, "upstream: listening on %s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("upstream: %v", err)
	}
}

var hello = []byte("hello world")

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{"11"}
		_, _ = w.Write(hello)
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		d := time.Duration(ms) * time.Millisecond
		if err != nil || ms < 0 || d > maxSleep {
			http.Error(w, fmt.Sprintf("ms = %q, must be a whole number in [0; %d]", r.URL.Query().Get("ms"), maxSleep.Milliseconds()), http.StatusBadRequest)
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			_, _ = w.Write([]byte("slept"))
		case <-r.Context().Done():
		}
	})
	return mux
}
