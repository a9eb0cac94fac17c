package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/balancer"
)

// TestWrapAnyHandler shows the library contract the example relies on: the
// wrapped handler answers, names the replica, and sheds beyond its limits.
func TestWrapAnyHandler(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			close(entered)
			<-release
		}
		io.WriteString(w, "app")
	})
	cfg := balancer.DefaultConfig()
	cfg.ID, cfg.MaxInflight, cfg.QueueMax, cfg.QueueTimeout = "lib", 1, 0, time.Second
	h, err := balancer.New(cfg, app, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer close(release)

	resp, err := http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "app" || resp.Header.Get("X-Mitosis-Replica") != "lib" {
		t.Fatalf("got %d %q replica=%q", resp.StatusCode, b, resp.Header.Get("X-Mitosis-Replica"))
	}
	go http.Get(srv.URL + "/block")
	select {
	case <-entered: // it holds the only slot
	case <-time.After(5 * time.Second):
		t.Fatal("blocking request never entered")
	}
	resp, err = http.Get(srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(resp.Header.Get("Retry-After"), "1") {
		t.Fatalf("over the limit: %d Retry-After=%q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
