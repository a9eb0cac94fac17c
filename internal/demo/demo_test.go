package demo

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	h := New("r1")
	tests := []struct {
		path string
		code int
		body string
	}{
		{"/", 200, "r1"},
		{"/work?ms=5", 200, "worked 5ms on r1"},
		{"/cpu?ms=1", 200, "burned 1ms on r1"},
		{"/work?ms=abc", 400, "must be an integer"},
		{"/work?ms=-1", 400, "must be an integer"},
		{"/work?ms=60001", 400, "must be an integer"},
		{"/work", 400, "must be an integer"},
		{"/cpu?ms=1e3", 400, "must be an integer"},
		{"/nope", 404, ""},
		{"/bytes?n=5", 200, "mitos"},
		{"/bytes?n=-1", 400, "must be an integer"},
		{"/bytes?n=1073741825", 400, "must be an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", tt.path, rec.Code, rec.Body, tt.code, tt.body)
			}
		})
	}
}

func TestWorkWaits(t *testing.T) {
	start := time.Now()
	rec := httptest.NewRecorder()
	New("r").ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/work?ms=30", nil))
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Fatalf("/work?ms=30 answered after %s", d)
	}
}
