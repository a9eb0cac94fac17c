package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(handler())
	defer srv.Close()
	tests := []struct {
		path    string
		status  int
		body    string
		atLeast time.Duration
	}{
		{"/", 200, "hello world", 0},
		{"/anything", 200, "hello world", 0},
		{"/sleep?ms=50", 200, "slept", 50 * time.Millisecond},
		{"/sleep?ms=-1", 400, "", 0},
		{"/sleep?ms=x", 400, "", 0},
		{"/sleep?ms=600001", 400, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			start := time.Now()
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || tt.body != "" && string(b) != tt.body {
				t.Errorf("%s: %d %q, want %d %q", tt.path, resp.StatusCode, b, tt.status, tt.body)
			}
			if el := time.Since(start); el < tt.atLeast {
				t.Errorf("%s answered after %s, want >= %s", tt.path, el, tt.atLeast)
			}
		})
	}
}

// A held /sleep ends when its client goes away, so a cancelled hold never
// outlives the measurement.
func TestSleepEndsWithItsClient(t *testing.T) {
	done := make(chan struct{})
	inner := handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r)
		close(done)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/sleep?ms=60000", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the request should have been cancelled")
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still sleeps after its client left")
	}
}
