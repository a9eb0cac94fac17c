package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mitosis-run/mitosis/bench/internal/stats"
)

// Result is what one run prints. Latencies are in microseconds and count
// successful (2xx) responses only; errors and missed requests are counted
// apart.
type Result struct {
	Rate      float64 `json:"rate"`
	DurationS float64 `json:"duration_s"`
	Conns     int     `json:"conns"`
	// Scheduled is rate × duration: the requests the schedule holds.
	Scheduled int64 `json:"scheduled"`
	OK        int64 `json:"ok"`
	// Errors are failed exchanges (connect, I/O, timeout) and non-2xx.
	Errors int64 `json:"errors"`
	// Missed were never sent because the grace period had run out.
	Missed int64 `json:"missed"`
	// AchievedRPS is OK divided by the time from the first scheduled send
	// to the last response.
	AchievedRPS float64 `json:"achieved_rps"`
	// P50US..MaxUS are measured from the scheduled send time.
	P50US  float64 `json:"p50_us"`
	P99US  float64 `json:"p99_us"`
	P999US float64 `json:"p999_us"`
	MaxUS  float64 `json:"max_us"`
	// ServiceP99US is measured from the actual send (what a closed loop
	// would see). LagP99US is how late requests left: waiting for a free
	// connection of the pool (the target is behind) or for the generator's
	// own CPU (the machine is busy).
	ServiceP99US float64 `json:"service_p99_us"`
	LagP99US     float64 `json:"lag_p99_us"`
}

// sample is one answered request.
type sample struct {
	fromSched time.Duration
	service   time.Duration
	lag       time.Duration
}

// Run executes the schedule described by c. It returns an error only for
// a bad URL; target failures are counted in the Result.
func Run(ctx context.Context, c Config) (Result, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return Result{}, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	req := []byte("GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: openloop\r\n\r\n")

	total := int64(c.Rate * c.Duration.Seconds())
	interval := float64(time.Second) / c.Rate
	// A short lead lets every worker reach its first sleep before the
	// first scheduled send.
	start := time.Now().Add(20 * time.Millisecond)
	deadline := start.Add(c.Duration + c.Grace)
	var next, errs, missed atomic.Int64
	var lastDone atomic.Int64
	per := make([][]sample, c.Conns)
	var wg sync.WaitGroup
	for w := range c.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &client{addr: host, req: req, timeout: c.Timeout}
			defer cl.close()
			out := make([]sample, 0, int(total)/c.Conns+16)
			for {
				i := next.Add(1) - 1
				if i >= total {
					break
				}
				sched := start.Add(time.Duration(float64(i) * interval))
				if d := time.Until(sched); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
					}
				}
				sent := time.Now()
				if ctx.Err() != nil || sent.After(deadline) {
					missed.Add(1)
					continue
				}
				ioDeadline := sent.Add(c.Timeout)
				if ioDeadline.After(deadline) {
					ioDeadline = deadline
				}
				ok := cl.do(ioDeadline)
				done := time.Now()
				if !ok {
					errs.Add(1)
					continue
				}
				out = append(out, sample{fromSched: done.Sub(sched), service: done.Sub(sent), lag: sent.Sub(sched)})
				for {
					old := lastDone.Load()
					if done.UnixNano() <= old || lastDone.CompareAndSwap(old, done.UnixNano()) {
						break
					}
				}
			}
			per[w] = out
		}()
	}
	wg.Wait()

	var fromSched, service, lag []int64
	for _, s := range per {
		for _, x := range s {
			fromSched = append(fromSched, int64(x.fromSched))
			service = append(service, int64(x.service))
			lag = append(lag, int64(x.lag))
		}
	}
	slices.Sort(fromSched)
	slices.Sort(service)
	slices.Sort(lag)
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	r := Result{
		Rate: c.Rate, DurationS: c.Duration.Seconds(), Conns: c.Conns,
		Scheduled: total, OK: int64(len(fromSched)), Errors: errs.Load(), Missed: missed.Load(),
		P50US:        us(stats.Percentile(fromSched, 50)),
		P99US:        us(stats.Percentile(fromSched, 99)),
		P999US:       us(stats.Percentile(fromSched, 99.9)),
		MaxUS:        us(stats.Percentile(fromSched, 100)),
		ServiceP99US: us(stats.Percentile(service, 99)),
		LagP99US:     us(stats.Percentile(lag, 99)),
	}
	if end := lastDone.Load(); end > start.UnixNano() && r.OK > 0 {
		r.AchievedRPS = float64(r.OK) / (float64(end-start.UnixNano()) / 1e9)
	}
	return r, nil
}

// client is one keep-alive connection, redialled after any failure.
type client struct {
	addr    string
	req     []byte
	timeout time.Duration
	conn    net.Conn
	br      *bufio.Reader
}

// do sends one request and reads the whole response before ioDeadline. It
// reports whether the answer was a 2xx.
func (c *client) do(ioDeadline time.Time) bool {
	if c.conn == nil {
		d := net.Dialer{Deadline: ioDeadline}
		conn, err := d.Dial("tcp", c.addr)
		if err != nil {
			return false
		}
		c.conn = conn
		if c.br == nil {
			c.br = bufio.NewReaderSize(conn, 16<<10)
		} else {
			c.br.Reset(conn)
		}
	}
	_ = c.conn.SetDeadline(ioDeadline)
	if _, err := c.conn.Write(c.req); err != nil {
		c.close()
		return false
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	return err == nil && resp.StatusCode >= 200 && resp.StatusCode < 300
}

func (c *client) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}
