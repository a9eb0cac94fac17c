// Command echoapp is the app of the child-process tests: it listens on
// 127.0.0.1:$PORT and answers every request with one line naming the path,
// the X-Forwarded-For header and its pid. GET /die answers, then exits with
// status 7 (an app that crashes).
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		fmt.Fprintln(os.Stderr, "echoapp: PORT is not set")
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/die", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "dying")
		// Answer first, so the test sees the request got through; then
		// crash the way a real app would.
		go func() {
			time.Sleep(50 * time.Millisecond)
			os.Exit(7)
		}()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "path=%s xff=%s pid=%d\n", r.URL.Path, r.Header.Get("X-Forwarded-For"), os.Getpid())
	})
	if err := http.ListenAndServe("127.0.0.1:"+port, mux); err != nil {
		fmt.Fprintln(os.Stderr, "echoapp:", err)
		os.Exit(1)
	}
}
