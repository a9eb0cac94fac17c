package pool

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFetch(t *testing.T) {
	okBody := `{"id":"r1","public_port":8080,"inflight":2,"capacity":8,"draining":true,"latency_ms":{"ewma":12.5},"future_field":1}`
	tests := []struct {
		name     string
		handler  http.HandlerFunc
		max      int64
		wantErr  string
		wantTerr error
	}{
		{name: "ok", handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, okBody) }},
		{name: "500", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, wantErr: "500"},
		{name: "oversize", max: 32, handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, okBody) },
			wantTerr: ErrStateTooLarge},
		{name: "oversize default", handler: func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"id":"`+strings.Repeat("x", DefaultMaxStateBytes)+`"}`)
		}, wantTerr: ErrStateTooLarge},
		{name: "bad json", handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"id":`) },
			wantErr: "decode"},
		{name: "no id", handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"public_port":8080}`) },
			wantErr: "empty id"},
		{name: "no port", handler: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"id":"r1"}`) },
			wantErr: "public_port 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			f := &Fetcher{Client: srv.Client(), MaxBytes: tt.max}
			addr := strings.TrimPrefix(srv.URL, "http://")
			st, err := f.Fetch(context.Background(), addr)
			switch {
			case tt.wantTerr != nil:
				if !errors.Is(err, tt.wantTerr) {
					t.Fatalf("err = %v, want %v", err, tt.wantTerr)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), addr) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, addr, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if st.ID != "r1" || st.PublicPort != 8080 || st.Inflight != 2 || st.Capacity != 8 ||
					!st.Draining || st.LatencyMS.EWMA != 12.5 {
					t.Fatalf("state = %+v", st)
				}
			}
		})
	}
}

func TestFetchToken(t *testing.T) {
	const token = "s3cret"
	var gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		if !TokenOK(r, token) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, `{"id":"r1","public_port":8080}`)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	if _, err := (&Fetcher{Client: srv.Client()}).Fetch(context.Background(), addr); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("without token: err = %v, want 403", err)
	}
	if _, err := (&Fetcher{Client: srv.Client(), Token: "wrong"}).Fetch(context.Background(), addr); err == nil {
		t.Fatal("wrong token accepted")
	}
	if _, err := (&Fetcher{Client: srv.Client(), Token: token}).Fetch(context.Background(), addr); err != nil {
		t.Fatalf("with token: %v", err)
	}
	if gotPath != StatePath {
		t.Fatalf("path = %q, want %q", gotPath, StatePath)
	}
	if !TokenOK(httptest.NewRequest("GET", "/", nil), "") {
		t.Fatal("empty configured token must accept every request")
	}
}

func TestFetchDeadAddress(t *testing.T) {
	addr := deadAddr(t)
	_, err := (&Fetcher{}).Fetch(context.Background(), addr)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want a dial error naming %s", err, addr)
	}
}
