package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// profileResult is the CPU profile of the mitosis local path under wrk,
// and the balancer micro-benchmarks.
type profileResult struct {
	top      string // go tool pprof -top
	shares   []share
	incl     []share
	total    time.Duration
	wrk      sample
	benchOut string
}

type share struct {
	name string
	d    time.Duration
}

// runProfile profiles the local path: the binary built by run.sh with
// bench/pprof_overlay.go.in added through go build -overlay (the tree is
// not touched) serves net/http/pprof on its own loopback port when
// BENCH_PPROF_LISTEN is set.
func (r *runner) runProfile(ctx context.Context) (*profileResult, error) {
	res := &profileResult{}
	bin := r.bin("mitosis-pprof")
	p, err := r.startMitosis(ctx, "mitosis-pprof", bin, offProfile, offProfileAdmin,
		append(r.localEnv(), "BENCH_PPROF_LISTEN="+r.addr(offProfileDebug))...)
	if err != nil {
		return nil, err
	}
	defer r.ps.stopOne(p)
	url := "http://" + r.addr(offProfile) + "/"
	if _, err := r.wrk(ctx, url, time.Second); err != nil {
		return nil, fmt.Errorf("profile warm-up: %w", err)
	}
	d := max(r.o.duration, 5*time.Second)
	r.logf("profile: mitosis local path, %s of CPU profile under wrk -t1 -c%d", d, r.o.conns)
	type wrkOut struct {
		s   sample
		err error
	}
	done := make(chan wrkOut, 1)
	go func() {
		s, err := r.wrk(ctx, url, d+2*time.Second)
		done <- wrkOut{s, err}
	}()
	settle(ctx, time.Second)
	prof := filepath.Join(r.o.out, "mitosis-local.cpu.pprof")
	if err := fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", r.addr(offProfileDebug), int(d/time.Second)), prof, d+20*time.Second); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	w := <-done
	if w.err != nil {
		return nil, w.err
	}
	res.wrk = w.s
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=20", bin, prof).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pprof -top: %w\n%s", err, top)
	}
	res.top = trimPprofHeader(string(top))
	traces, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-traces", bin, prof).Output()
	if err != nil {
		return nil, fmt.Errorf("pprof -traces: %w", err)
	}
	res.shares, res.incl, res.total = classify(parseTraces(string(traces)))

	r.logf("profile: go test -bench . -benchmem ./balancer/")
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1",
		"-cpuprofile", filepath.Join(r.o.absOut, "balancer.cpu.pprof"), "-o", filepath.Join(r.o.absOut, "balancer.test"), "./balancer/")
	cmd.Dir = r.o.repo
	out, err := cmd.CombinedOutput()
	res.benchOut = strings.TrimSpace(string(out))
	if err != nil {
		res.benchOut += "\n(go test failed: " + err.Error() + ")"
	}
	return res, nil
}

func fetch(ctx context.Context, url, path string, timeout time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// trimPprofHeader drops the File/Build ID/Time lines of pprof's output,
// which differ on every run and say nothing.
func trimPprofHeader(s string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// trace is one stack of `pprof -traces`, leaf first, with its time.
type trace struct {
	d      time.Duration
	frames []string
}

// parseTraces reads `go tool pprof -traces`: blocks separated by lines of
// dashes; the first line of a block is "<value> <leaf function>", the next
// lines one caller each.
func parseTraces(s string) []trace {
	var out []trace
	var cur *trace
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "-----------+") {
			cur = nil
			continue
		}
		f := strings.Fields(l)
		if len(f) == 0 || strings.Contains(l, ":") && !strings.Contains(f[len(f)-1], ".") {
			continue // headers and label lines
		}
		if cur == nil {
			if len(f) < 2 {
				continue
			}
			d, err := parsePprofDuration(f[0])
			if err != nil {
				continue
			}
			out = append(out, trace{d: d, frames: []string{f[1]}})
			cur = &out[len(out)-1]
			continue
		}
		cur.frames = append(cur.frames, f[0])
	}
	return out
}

// parsePprofDuration reads pprof's values: "10ms", "1.20s", "250us".
func parsePprofDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if strings.HasSuffix(s, "us") {
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "us"), 64)
		return time.Duration(v * float64(time.Microsecond)), err
	}
	return 0, fmt.Errorf("not a duration: %q", s)
}

// Categories of CPU time, reported in this order.
const (
	catSyscallNet = "syscalls: socket read/write/accept"
	catSyscallRT  = "syscalls: futex, epoll and other runtime"
	catHTTP       = "net/http, net, bufio (stdlib HTTP machinery)"
	catProxy      = "the proxy: github.com/mitosis-run/mitosis/* and net/http/httputil"
	catMetrics    = "metrics: prometheus client"
	catRuntime    = "Go runtime alone: GC, scheduler"
	catOther      = "other"
)

var catOrder = []string{catSyscallNet, catSyscallRT, catHTTP, catProxy, catMetrics, catRuntime, catOther}

// classify charges each sample to one category: syscalls by the leaf frame
// (the kernel time of a syscall is sampled in its Go entry point);
// otherwise to the innermost frame that belongs to an "owner" package, so
// that a map lookup or an allocation counts for the code that asked for
// it. It also returns inclusive shares: samples with the proxy's or the
// metrics' code anywhere on the stack.
func classify(ts []trace) (self, incl []share, total time.Duration) {
	by := map[string]time.Duration{}
	var inProxy, inMetrics, inLog time.Duration
	for _, t := range ts {
		total += t.d
		by[category(t.frames)] += t.d
		var p, m, l bool
		for _, f := range t.frames {
			p = p || isProxy(f)
			m = m || strings.HasPrefix(f, "github.com/prometheus/")
			l = l || strings.HasPrefix(f, "log/slog.")
		}
		if p {
			inProxy += t.d
		}
		if m {
			inMetrics += t.d
		}
		if l {
			inLog += t.d
		}
	}
	for _, c := range catOrder {
		self = append(self, share{c, by[c]})
	}
	incl = []share{{"github.com/mitosis-run/mitosis/* or httputil anywhere on the stack", inProxy}, {"prometheus anywhere on the stack", inMetrics}, {"log/slog anywhere on the stack", inLog}}
	return self, incl, total
}

func isProxy(f string) bool {
	return strings.HasPrefix(f, "github.com/mitosis-run/mitosis/") || strings.HasPrefix(f, "main.") || strings.HasPrefix(f, "net/http/httputil.")
}

func category(frames []string) string {
	if len(frames) == 0 {
		return catOther
	}
	leaf := frames[0]
	if isSyscall(leaf) {
		for _, f := range frames {
			if strings.HasPrefix(f, "internal/poll.") || strings.HasPrefix(f, "net.") {
				return catSyscallNet
			}
		}
		return catSyscallRT
	}
	for _, f := range frames {
		switch {
		case strings.HasPrefix(f, "github.com/prometheus/"):
			return catMetrics
		case isProxy(f):
			return catProxy
		case strings.HasPrefix(f, "net/http.") || strings.HasPrefix(f, "net/textproto.") || strings.HasPrefix(f, "net/url.") ||
			strings.HasPrefix(f, "net.") || strings.HasPrefix(f, "internal/poll.") || strings.HasPrefix(f, "bufio."):
			return catHTTP
		case generic(f):
			continue
		default:
			return catOther
		}
	}
	return catRuntime
}

func isSyscall(f string) bool {
	for _, p := range []string{"syscall.", "internal/runtime/syscall", "runtime/internal/syscall", "runtime.futex", "runtime.epollwait",
		"runtime.usleep", "runtime.write1", "runtime.read", "runtime.madvise", "runtime.mmap", "runtime.munmap", "runtime.nanosleep",
		"runtime.sched_yield", "runtime.osyield", "runtime.tgkill", "runtime.getpid"} {
		if strings.HasPrefix(f, p) {
			return true
		}
	}
	return false
}

// generic packages are helpers: their time belongs to whoever called them.
func generic(f string) bool {
	for _, p := range []string{"runtime.", "internal/", "sync.", "sync/atomic.", "strings.", "strconv.", "bytes.", "io.",
		"time.", "sort.", "slices.", "maps.", "fmt.", "math.", "math/", "unicode.", "unicode/", "errors.", "context.",
		"reflect.", "encoding/", "container/", "gcWriteBarrier", "aeshashbody", "memeqbody", "indexbyte", "cmpbody"} {
		if strings.HasPrefix(f, p) {
			return true
		}
	}
	return false
}
