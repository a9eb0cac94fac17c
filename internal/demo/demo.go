package demo

import (
	"fmt"
	"html/template"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// MaxMS is the largest cost a request may ask for; MaxBytes the largest
// download.
const (
	MaxMS    = 60000
	MaxBytes = 1 << 30
)

// filler is what /bytes sends, 32 KiB at a time.
var filler = []byte(strings.Repeat("mitosis\n", 4096))

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>mitosis demo</title></head>
<body><h1>mitosis</h1><p>Served by replica <b>{{.}}</b>.</p>
<p>Try <a href="/work?ms=100">/work?ms=100</a> (waits) or <a href="/cpu?ms=20">/cpu?ms=20</a> (burns CPU).
The admin page of this replica is on its admin port at <code>/_mitosis/</code>.</p></body></html>
`))

// New returns the demo app for the replica named id.
func New(id string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, id)
	})
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		d, ok := cost(w, r)
		if !ok {
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "worked %s on %s\n", d, id)
	})
	mux.HandleFunc("GET /bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		if err != nil || n < 0 || n > MaxBytes {
			http.Error(w, fmt.Sprintf("n=%q: must be an integer in [0; %d]", r.URL.Query().Get("n"), MaxBytes), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		for n > 0 {
			k := min(n, int64(len(filler)))
			if _, err := w.Write(filler[:k]); err != nil {
				return // the client left, or the write timed out
			}
			n -= k
		}
	})
	mux.HandleFunc("GET /cpu", func(w http.ResponseWriter, r *http.Request) {
		d, ok := cost(w, r)
		if !ok {
			return
		}
		burn(d)
		fmt.Fprintf(w, "burned %s on %s\n", d, id)
	})
	return mux
}

func cost(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	s := r.URL.Query().Get("ms")
	ms, err := strconv.Atoi(s)
	if err != nil || ms < 0 || ms > MaxMS {
		http.Error(w, fmt.Sprintf("ms=%q: must be an integer in [0; %d]", s, MaxMS), http.StatusBadRequest)
		return 0, false
	}
	return time.Duration(ms) * time.Millisecond, true
}

// burn keeps one core busy for d of wall time.
func burn(d time.Duration) {
	end := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(end) {
		for i := 0; i < 1000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	runtime.KeepAlive(x) // the arithmetic is the work: keep it
}
