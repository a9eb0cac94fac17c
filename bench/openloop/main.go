// Command openloop is an open-loop HTTP/1.1 load generator: it sends GET
// requests at a fixed rate over a fixed pool of keep-alive connections and
// measures every latency from the request's SCHEDULED send time, so a stall
// of the server is charged to every request that should have been sent
// during it (no coordinated omission, unlike a closed loop such as wrk).
//
// It prints one JSON object (see Result) on stdout. Every run is bounded:
// the schedule ends after -duration, and requests still unanswered
// -grace later are abandoned and counted as missed.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"
)

func main() {
	var c Config
	flag.StringVar(&c.URL, "url", "http://127.0.0.1:19000/", "target URL (http only)")
	flag.Float64Var(&c.Rate, "rate", 5000, "requests per second")
	flag.DurationVar(&c.Duration, "duration", 10*time.Second, "length of the schedule")
	flag.IntVar(&c.Conns, "conns", 64, "keep-alive connections in the pool (the most requests in flight)")
	flag.DurationVar(&c.Grace, "grace", 5*time.Second, "how long after the schedule ends unanswered requests are awaited")
	flag.DurationVar(&c.Timeout, "timeout", 5*time.Second, "per-request I/O timeout")
	flag.Parse()
	if err := c.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "openloop:", err)
		os.Exit(2)
	}
	res, err := Run(context.Background(), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "openloop:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	_ = enc.Encode(res)
}

// Config is one open-loop run.
type Config struct {
	URL      string
	Rate     float64
	Duration time.Duration
	Conns    int
	Grace    time.Duration
	Timeout  time.Duration
}

// Validate names the flag, the value and the accepted range.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil || u.Scheme != "http" || u.Host == "":
		return fmt.Errorf("-url = %q, must be an http:// URL with a host", c.URL)
	case c.Rate <= 0 || c.Rate > 1e6:
		return fmt.Errorf("-rate = %g, must be in (0; 1000000]", c.Rate)
	case c.Duration <= 0 || c.Duration > time.Hour:
		return fmt.Errorf("-duration = %s, must be in (0; 1h]", c.Duration)
	case c.Conns < 1 || c.Conns > 10000:
		return fmt.Errorf("-conns = %d, must be in [1; 10000]", c.Conns)
	case c.Grace < 0 || c.Grace > time.Minute:
		return fmt.Errorf("-grace = %s, must be in [0; 1m]", c.Grace)
	case c.Timeout <= 0 || c.Timeout > time.Minute:
		return fmt.Errorf("-timeout = %s, must be in (0; 1m]", c.Timeout)
	}
	return nil
}
