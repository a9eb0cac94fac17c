package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func cfg(url string, rate float64, d time.Duration, conns int) Config {
	return Config{URL: url, Rate: rate, Duration: d, Conns: conns, Grace: 2 * time.Second, Timeout: 2 * time.Second}
}

func TestSendsTheWholeSchedule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	res, err := Run(context.Background(), cfg(srv.URL+"/", 2000, 500*time.Millisecond, 4))
	if err != nil {
		t.Fatal(err)
	}
	if res.Scheduled != 1000 || res.OK != 1000 || res.Errors != 0 || res.Missed != 0 {
		t.Errorf("got %+v, want all 1000 scheduled requests answered", res)
	}
	// 1000 requests over 0.5 s: the achieved rate is the offered one, not
	// what the server could do flat out.
	if res.AchievedRPS < 1500 || res.AchievedRPS > 2100 {
		t.Errorf("achieved %.0f req/s, want about 2000", res.AchievedRPS)
	}
}

// A stall of the server is charged to every request scheduled during it,
// not only to the one that was in flight: no coordinated omission.
func TestStallIsChargedFromTheSchedule(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			time.Sleep(300 * time.Millisecond) // the stall under test: the server stops answering for 300ms
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	res, err := Run(context.Background(), cfg(srv.URL+"/", 200, time.Second, 1))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 200 {
		t.Fatalf("got %+v, want 200 answered", res)
	}
	// About 60 of 200 requests were due during the stall: p99 from the
	// schedule sees it, the service time (a closed loop's view) does not.
	if res.P99US < 200e3 {
		t.Errorf("p99 from the schedule = %.0f µs, want >= 200 ms (the stall)", res.P99US)
	}
	if res.ServiceP99US > 100e3 {
		t.Errorf("service p99 = %.0f µs, want well under the stall", res.ServiceP99US)
	}
	if res.P50US >= res.P99US {
		t.Errorf("p50 %.0f >= p99 %.0f", res.P50US, res.P99US)
	}
}

func TestErrorsAreCounted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/"
	ln.Close()
	tests := []struct {
		name string
		url  string
	}{
		{"non-2xx", srv.URL + "/"},
		{"dead address", dead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res, err := Run(context.Background(), cfg(tt.url, 500, 200*time.Millisecond, 2))
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != 0 || res.Errors+res.Missed != res.Scheduled || res.Scheduled != 100 {
				t.Errorf("got %+v, want all 100 requests failed", res)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("took %s, want it bounded by duration + grace", el)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := cfg("http://127.0.0.1:1/", 100, time.Second, 1)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mut  func(*Config)
	}{
		{"https", func(c *Config) { c.URL = "https://x/" }},
		{"zero rate", func(c *Config) { c.Rate = 0 }},
		{"no conns", func(c *Config) { c.Conns = 0 }},
		{"no duration", func(c *Config) { c.Duration = 0 }},
		{"no timeout", func(c *Config) { c.Timeout = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mut(&c)
			if err := c.Validate(); err == nil {
				t.Error("accepted")
			}
		})
	}
}
