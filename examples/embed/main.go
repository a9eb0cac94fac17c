// Command embed shows mitosis as a Go library: any http.Handler gets
// admission control, a bounded queue, shedding with Retry-After, the load
// signal and Prometheus metrics by wrapping it in balancer.New.
//
//	go run ./examples/embed            # app on :8081, metrics on :9091
//	curl -i localhost:8081/hello
//
// Siblings, discovery and autoscaling are wired by the mitosis command
// itself (see main.go); a library user who wants them runs the command with
// MITOSIS_UPSTREAM pointing at their server instead.
package main

import (
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mitosis-run/mitosis/balancer"
)

func main() {
	app := http.NewServeMux()
	app.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond) // some work
		fmt.Fprintln(w, "hello from an embedded app")
	})

	cfg := balancer.DefaultConfig()
	cfg.ID = "embed-1"
	cfg.MaxInflight = 16
	cfg.QueueMax = 64
	cfg.QueueTimeout = 2 * time.Second

	reg := prometheus.NewRegistry()
	h, err := balancer.New(cfg, app, reg)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		log.Fatal(http.ListenAndServe(":9091", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	}()
	srv := &http.Server{Addr: ":8081", Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("serving on %s (metrics on :9091/metrics)", srv.Addr)
	log.Fatal(srv.ListenAndServe())
}
