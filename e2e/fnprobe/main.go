// Command fnprobe is the e2e suite's function: run as a function container
// (or a local exec: function) it answers, CGI style, with what it sees of
// its request and of its sandbox, so the suite can check both from the
// outside. Modes (first argument): probe (default), sleep MS, fail.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

type report struct {
	Stdin      string            `json:"stdin"`
	Args       []string          `json:"args"`
	Env        map[string]string `json:"env"`
	UID        int               `json:"uid"`
	GID        int               `json:"gid"`
	CapEff     string            `json:"cap_eff"`
	NoNewPrivs string            `json:"no_new_privs"`
	RootWrite  string            `json:"root_write"` // the error writing to /
	TmpWrite   string            `json:"tmp_write"`  // "" when /tmp is writable
	Interfaces []string          `json:"interfaces"`
}

func main() {
	mode := "probe"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	switch mode {
	case "sleep":
		ms, _ := strconv.Atoi(os.Args[2])
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Print("slept")
	case "fail":
		fmt.Fprintln(os.Stderr, "fnprobe: failing on purpose")
		os.Exit(3)
	default:
		probe()
	}
}

func probe() {
	in, _ := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	r := report{Stdin: string(in), Args: os.Args[1:], Env: map[string]string{}, UID: os.Getuid(), GID: os.Getgid()}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		r.Env[k] = v
	}
	status, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "CapEff":
			r.CapEff = strings.TrimSpace(v)
		case "NoNewPrivs":
			r.NoNewPrivs = strings.TrimSpace(v)
		}
	}
	if err := os.WriteFile("/probe", []byte("x"), 0o644); err != nil {
		r.RootWrite = err.Error()
	}
	if err := os.WriteFile("/tmp/probe", []byte("x"), 0o644); err != nil {
		r.TmpWrite = err.Error()
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		r.Interfaces = append(r.Interfaces, i.Name)
	}
	b, _ := json.Marshal(r)
	fmt.Printf("Status: 200 OK\r\nContent-Type: application/json\r\n\r\n%s", b)
}
