// Command loadgen sends a bounded HTTP load and prints one JSON line with
// the outcome. It is static-buildable (CGO_ENABLED=0), so it runs in a
// FROM-scratch container on an overlay network next to the service:
//
//	loadgen -url http://web:8080/work?ms=50 -c 16 -d 30s -progress
//
// Flags:
//
//	-url       target URL (required); several, comma-separated, take turns
//	-c         concurrent workers (default 8)
//	-d         duration (default 10s; 0 = until -n)
//	-n         max requests in all (0 = no limit)
//	-rate      requests per second in all (0 = as fast as the workers go)
//	-timeout   per-request timeout (default 10s)
//	-keepalive reuse connections (default true; false dials anew per
//	           request, so DNS round robin spreads the load)
//	-progress  print one JSON line per second to stderr
//	-by-addr   count requests and failures by the address each request's
//	           connection went to (by_addr in the result): which replica or
//	           node a failed request had entered on
//	-strict    exit 1 on any error or non-2xx status
//	-get       GET the URL once, print the body, exit 1 unless 2xx
//
// The result line (stdout): total, ok, by_status, errors by kind, latency
// percentiles in ms, the distinct X-Mitosis-Replica values seen, and with
// -by-addr the counts by connection address.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// replicaHeader names the replica that answered.
const replicaHeader = "X-Mitosis-Replica"

// maxSamples bounds the latency samples kept (memory); beyond it the
// percentiles come from the first maxSamples requests.
const maxSamples = 2_000_000

type config struct {
	url       string
	urls      []string // url split at commas
	c         int
	d         time.Duration
	n         int64
	rate      float64
	timeout   time.Duration
	keepalive bool
	progress  bool
	strict    bool
	get       bool
	byAddr    bool
}

// Result is the final JSON line.
type Result struct {
	Total     int64            `json:"total"`
	OK        int64            `json:"ok"`
	ByStatus  map[string]int64 `json:"by_status"`
	Errors    map[string]int64 `json:"errors"`
	P50       float64          `json:"p50_ms"`
	P95       float64          `json:"p95_ms"`
	P99       float64          `json:"p99_ms"`
	Max       float64          `json:"max_ms"`
	Seconds   float64          `json:"seconds"`
	RPS       float64          `json:"rps"`
	Replicas  []string         `json:"replicas"`
	FirstFail string           `json:"first_failure,omitempty"`
	// ByAddr counts requests by the address (host:port) their connection
	// went to, or was being dialled to when it failed (-by-addr).
	ByAddr map[string]*AddrCount `json:"by_addr,omitempty"`
}

// AddrCount is what went to one address.
type AddrCount struct {
	Total  int64 `json:"total"`
	Failed int64 `json:"failed"`
}

type stats struct {
	total, ok, fails atomic.Int64

	mu        sync.Mutex
	byStatus  map[int]int64
	errs      map[string]int64
	samples   []time.Duration
	replicas  map[string]bool
	firstFail string
	byAddr    map[string]*AddrCount // nil: not counted
}

func (s *stats) record(code int, kind string, detail string, d time.Duration, replica, addr string) {
	s.total.Add(1)
	failed := kind != "" || code < 200 || code > 299
	if failed {
		s.fails.Add(1)
	} else {
		s.ok.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if kind != "" {
		s.errs[kind]++
	} else {
		s.byStatus[code]++
	}
	if failed && s.firstFail == "" {
		s.firstFail = detail
	}
	if len(s.samples) < maxSamples {
		s.samples = append(s.samples, d)
	}
	if replica != "" {
		s.replicas[replica] = true
	}
	if s.byAddr != nil {
		a := s.byAddr[addr]
		if a == nil {
			a = &AddrCount{}
			s.byAddr[addr] = a
		}
		a.Total++
		if failed {
			a.Failed++
		}
	}
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", "", "target URL")
	flag.IntVar(&cfg.c, "c", 8, "concurrent workers")
	flag.DurationVar(&cfg.d, "d", 10*time.Second, "duration (0: until -n)")
	flag.Int64Var(&cfg.n, "n", 0, "max requests (0: no limit)")
	flag.Float64Var(&cfg.rate, "rate", 0, "requests per second in all (0: unpaced)")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.BoolVar(&cfg.keepalive, "keepalive", true, "reuse connections")
	flag.BoolVar(&cfg.progress, "progress", false, "print a JSON progress line per second to stderr")
	flag.BoolVar(&cfg.strict, "strict", false, "exit 1 on any error or non-2xx")
	flag.BoolVar(&cfg.get, "get", false, "GET the URL once and print the body")
	flag.BoolVar(&cfg.byAddr, "by-addr", false, "count requests and failures by connection address")
	flag.Parse()
	cfg.urls = strings.Split(cfg.url, ",")
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.get {
		os.Exit(getOnce(ctx, cfg))
	}
	res := run(ctx, cfg, os.Stderr)
	_ = json.NewEncoder(os.Stdout).Encode(res)
	if cfg.strict && res.OK != res.Total {
		os.Exit(1)
	}
}

func (c config) validate() error {
	var errs []error
	if c.url == "" {
		errs = append(errs, errors.New("-url is required"))
	}
	if c.c < 1 || c.c > 10000 {
		errs = append(errs, fmt.Errorf("-c = %d, must be in [1; 10000]", c.c))
	}
	if c.d < 0 || c.n < 0 || c.rate < 0 {
		errs = append(errs, errors.New("-d, -n and -rate must not be negative"))
	}
	if c.d == 0 && c.n == 0 && !c.get {
		errs = append(errs, errors.New("one of -d or -n must bound the run"))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("-timeout = %s, must be above 0", c.timeout))
	}
	return errors.Join(errs...)
}

func newClient(cfg config) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.timeout}).DialContext,
		MaxIdleConnsPerHost: cfg.c,
		DisableKeepAlives:   !cfg.keepalive,
	}
	return &http.Client{Transport: tr, Timeout: cfg.timeout}
}

func getOnce(ctx context.Context, cfg config) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	resp, err := newClient(cfg).Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(os.Stdout, resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, "loadgen: status", resp.Status)
		return 1
	}
	return 0
}

// run drives the load until -d passes, -n requests were sent, or ctx ends.
func run(ctx context.Context, cfg config, progress io.Writer) Result {
	if cfg.d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.d)
		defer cancel()
	}
	cl := newClient(cfg)
	st := &stats{byStatus: map[int]int64{}, errs: map[string]int64{}, replicas: map[string]bool{}}
	if cfg.byAddr {
		st.byAddr = map[string]*AddrCount{}
	}
	urls := cfg.urls
	if len(urls) == 0 {
		urls = []string{cfg.url}
	}
	var issued, turn atomic.Int64
	var tokens <-chan time.Time
	if cfg.rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / cfg.rate))
		defer t.Stop()
		tokens = t.C
	}
	start := time.Now()
	done := make(chan struct{})
	if cfg.progress {
		go report(ctx, st, start, progress, done)
	}
	var wg sync.WaitGroup
	for range cfg.c {
		wg.Go(func() {
			for ctx.Err() == nil {
				if cfg.n > 0 && issued.Add(1) > cfg.n {
					return
				}
				if tokens != nil {
					select {
					case <-tokens:
					case <-ctx.Done():
						return
					}
				}
				one(ctx, cl, urls[int(turn.Add(1)-1)%len(urls)], st)
			}
		})
	}
	wg.Wait()
	close(done)
	return st.result(time.Since(start))
}

// one sends one GET; a request cut by the end of the run is not counted.
func one(ctx context.Context, cl *http.Client, url string, st *stats) {
	// The connection's remote address, or the one being dialled; the
	// transport may dial on a goroutine of its own.
	var at atomic.Pointer[string]
	if st.byAddr != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			ConnectStart: func(_, a string) { at.Store(&a) },
			GotConn: func(c httptrace.GotConnInfo) {
				a := c.Conn.RemoteAddr().String()
				at.Store(&a)
			},
		})
	}
	addrOf := func() string {
		if a := at.Load(); a != nil {
			return *a
		}
		return ""
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		st.record(0, "request", err.Error(), 0, "", addrOf())
		return
	}
	t0 := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		st.record(0, errKind(err), err.Error(), time.Since(t0), "", addrOf())
		return
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		st.record(0, "body", err.Error(), d, resp.Header.Get(replicaHeader), addrOf())
		return
	}
	st.record(resp.StatusCode, "", fmt.Sprintf("status %d from %s", resp.StatusCode, resp.Header.Get(replicaHeader)), d, resp.Header.Get(replicaHeader), addrOf())
}

func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "dns"
	}
	return "other"
}

func report(ctx context.Context, st *stats, start time.Time, w io.Writer, done <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		total := st.total.Load()
		st.mu.Lock()
		n := len(st.replicas)
		st.mu.Unlock()
		fmt.Fprintf(w, `{"t":%.0f,"total":%d,"rps":%d,"fails":%d,"replicas":%d}`+"\n",
			time.Since(start).Seconds(), total, total-last, st.fails.Load(), n)
		last = total
	}
}

func (s *stats) result(elapsed time.Duration) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Result{
		Total: s.total.Load(), OK: s.ok.Load(), ByStatus: map[string]int64{}, Errors: map[string]int64{},
		Seconds: elapsed.Seconds(), Replicas: []string{}, FirstFail: s.firstFail,
	}
	for c, n := range s.byStatus {
		r.ByStatus[strconv.Itoa(c)] = n
	}
	for k, n := range s.errs {
		r.Errors[k] = n
	}
	for id := range s.replicas {
		r.Replicas = append(r.Replicas, id)
	}
	slices.Sort(r.Replicas)
	if s.byAddr != nil {
		r.ByAddr = make(map[string]*AddrCount, len(s.byAddr))
		for a, c := range s.byAddr {
			r.ByAddr[a] = &AddrCount{Total: c.Total, Failed: c.Failed}
		}
	}
	if elapsed > 0 {
		r.RPS = float64(r.Total) / elapsed.Seconds()
	}
	slices.Sort(s.samples)
	r.P50, r.P95, r.P99 = pct(s.samples, 0.50), pct(s.samples, 0.95), pct(s.samples, 0.99)
	if len(s.samples) > 0 {
		r.Max = ms(s.samples[len(s.samples)-1])
	}
	return r
}

// pct is the nearest-rank percentile of sorted samples, in ms.
func pct(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = min(max(i, 0), len(sorted)-1)
	return ms(sorted[i])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
