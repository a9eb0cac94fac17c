// Command guardprobe sends a plan of raw HTTP requests to the guard and
// prints one JSON line per answer. The e2e suite runs it in the network
// namespace of a web task (docker run --network container:<task>), so the
// guard sees the task's own address: it sends what a hijacked web replica
// could send.
//
//	guardprobe -base http://10.0.1.5:7070 -plan '[{"name":"ping","method":"GET","path":"/_ping"}]'
//
// A step's "auth" is sent as the Authorization header as is.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

type step struct {
	Name   string `json:"name"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Body   string `json:"body"`
	Auth   string `json:"auth"`
}

type answer struct {
	Name   string `json:"name"`
	Status int    `json:"status"`
	Body   string `json:"body"`
	Err    string `json:"err,omitempty"`
}

func main() {
	base := flag.String("base", "", "guard base URL (http://host:port)")
	plan := flag.String("plan", "", "JSON list of steps")
	timeout := flag.Duration("timeout", 30*time.Second, "per-request timeout")
	flag.Parse()
	var steps []step
	if err := json.Unmarshal([]byte(*plan), &steps); err != nil || *base == "" {
		fmt.Fprintln(os.Stderr, "guardprobe: need -base and a JSON -plan:", err)
		os.Exit(2)
	}
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{Proxy: nil}}
	enc := json.NewEncoder(os.Stdout)
	for _, s := range steps {
		a := answer{Name: s.Name}
		req, err := http.NewRequest(s.Method, *base+s.Path, bytes.NewReader([]byte(s.Body)))
		if err == nil {
			if s.Auth != "" {
				req.Header.Set("Authorization", s.Auth)
			}
			var resp *http.Response
			if resp, err = client.Do(req); err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				a.Status, a.Body = resp.StatusCode, string(b)
			}
		}
		if err != nil {
			a.Err = err.Error()
		}
		_ = enc.Encode(a)
	}
}
