package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set(replicaHeader, []string{"a", "b"}[i%2])
		if i%10 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	res := run(context.Background(), config{url: srv.URL, c: 4, n: 100, timeout: 5 * time.Second, keepalive: true}, io.Discard)
	if res.Total != 100 || res.OK != 90 || res.ByStatus["200"] != 90 || res.ByStatus["503"] != 10 {
		t.Fatalf("result = %+v", res)
	}
	if len(res.Replicas) != 2 || res.Replicas[0] != "a" || res.Replicas[1] != "b" {
		t.Fatalf("replicas = %v", res.Replicas)
	}
	if res.P50 > res.P95 || res.P95 > res.P99 || res.P99 > res.Max {
		t.Fatalf("percentiles out of order: %+v", res)
	}
	if res.FirstFail == "" {
		t.Fatal("first failure not recorded")
	}
}

func TestRunDeadAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/"
	l.Close()
	res := run(context.Background(), config{url: url, c: 2, n: 10, timeout: time.Second}, io.Discard)
	if res.Total != 10 || res.OK != 0 || res.Errors["refused"] != 10 {
		t.Fatalf("result = %+v", res)
	}
}

func TestRunRateAndDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	res := run(context.Background(), config{url: srv.URL, c: 4, d: 500 * time.Millisecond, rate: 20, timeout: time.Second, keepalive: true}, io.Discard)
	// 20/s for 0.5 s: about 10, never far above (the pacing bounds it).
	if res.Total < 3 || res.Total > 12 || res.OK != res.Total {
		t.Fatalf("result = %+v", res)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []config{
		{c: 1, d: time.Second, timeout: time.Second},
		{url: "http://x", c: 0, d: time.Second, timeout: time.Second},
		{url: "http://x", c: 1, timeout: time.Second},
		{url: "http://x", c: 1, d: time.Second},
	} {
		if c.validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// -by-addr counts each request under the address its connection went to
// (or was dialled to), and several URLs take turns.
func TestRunByAddr(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer bad.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	cfg := config{urls: []string{ok.URL, bad.URL, "http://" + dead + "/"}, c: 3, n: 30, timeout: time.Second, keepalive: true, byAddr: true}
	res := run(context.Background(), cfg, io.Discard)
	okAddr, badAddr := ok.Listener.Addr().String(), bad.Listener.Addr().String()
	for addr, want := range map[string]AddrCount{okAddr: {10, 0}, badAddr: {10, 10}, dead: {10, 10}} {
		if got := res.ByAddr[addr]; got == nil || *got != want {
			t.Errorf("by_addr[%s] = %+v, want %+v (all: %v)", addr, got, want, res.ByAddr)
		}
	}
	if len(res.ByAddr) != 3 {
		t.Errorf("by_addr has %d addresses, want 3: %v", len(res.ByAddr), res.ByAddr)
	}
}
