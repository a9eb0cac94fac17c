package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// votersResult is the JSON line `voting voters` prints.
type votersResult struct {
	Voters    int            `json:"voters"`
	Recorded  int            `json:"votes_recorded"`
	Failed    int            `json:"votes_failed"`
	Retries   int            `json:"retries"`
	Statuses  map[string]int `json:"statuses"`
	Expected  Counts         `json:"expected"`
	Got       Counts         `json:"got"`
	Matched   bool           `json:"matched"`
	MatchMS   int64          `json:"match_after_ms"` // from the last vote to the expected result
	Replicas  []string       `json:"replicas"`       // X-Mitosis-Replica values seen
	ElapsedMS int64          `json:"elapsed_ms"`
	FirstFail string         `json:"first_failure,omitempty"`
}

// voters simulates n voters against the web tier at url, all at once (at
// most -c in flight): each gets its cookie from the vote page, votes, and
// then changes its vote (voter i votes b then a, except every third, which
// votes a then b) after thinking for up to -think (voter i: (i mod 10)
// tenths of it), so the load lasts a few seconds. A vote answered 502, 503 or 504, or not answered, is
// sent again (after Retry-After) until -timeout, as a person would click
// again. Then it polls /result/votes until the tally is the expected one
// (at most -wait). Exit status 0 when every vote was recorded and the
// tally matched.
func voters(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("voters", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the web tier")
	n := fs.Int("voters", 150, "how many voters")
	conc := fs.Int("c", 0, "most voters at once (0: all)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long one vote may be retried")
	wait := fs.Duration("wait", 30*time.Second, "how long the tally may take to match")
	think := fs.Duration("think", 3*time.Second, "longest pause before a voter changes its vote")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *conc <= 0 {
		*conc = *n
	}
	res := votersResult{Voters: *n, Statuses: map[string]int{}}
	var mu sync.Mutex
	replicas := map[string]bool{}
	note := func(status string, replica string, retry bool) {
		mu.Lock()
		defer mu.Unlock()
		res.Statuses[status]++
		if replica != "" {
			replicas[replica] = true
		}
		if retry {
			res.Retries++
		}
	}
	start := time.Now()
	sem := make(chan struct{}, *conc)
	var wg sync.WaitGroup
	for i := range *n {
		first, second := "b", "a"
		if i%3 == 0 {
			first, second = "a", "b"
		}
		if second == "a" {
			res.Expected.A++
		} else {
			res.Expected.B++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			v := newVoter(*base, note)
			for k, vote := range []string{first, second} {
				if k == 1 {
					time.Sleep(*think * time.Duration(i%10) / 10) // the voter thinks it over
				}
				err := v.vote(vote, time.Now().Add(*timeout))
				mu.Lock()
				if err != nil {
					res.Failed++
					if res.FirstFail == "" {
						res.FirstFail = err.Error()
					}
				} else {
					res.Recorded++
				}
				mu.Unlock()
				if err != nil {
					return // the second vote would not be a change
				}
			}
		}()
	}
	wg.Wait()
	res.ElapsedMS = time.Since(start).Milliseconds()
	votesDone := time.Now()
	deadline := votesDone.Add(*wait)
	for {
		got, err := tally(*base)
		if err == nil {
			res.Got = got
			if got == res.Expected {
				res.Matched = true
				res.MatchMS = time.Since(votesDone).Milliseconds()
				break
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond) // polling interval
	}
	for r := range replicas {
		res.Replicas = append(res.Replicas, r)
	}
	slices.Sort(res.Replicas)
	b, _ := json.Marshal(res)
	fmt.Fprintln(stdout, string(b))
	if res.Failed > 0 || !res.Matched {
		return 1
	}
	return 0
}

// voter is one browser: a cookie jar, no redirects followed.
type voter struct {
	base   string
	client *http.Client
	note   func(status, replica string, retry bool)
}

func newVoter(base string, note func(status, replica string, retry bool)) *voter {
	jar, _ := cookiejar.New(nil)
	return &voter{base: base, note: note, client: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// vote sends one vote until it is recorded (303) or the deadline passes.
// The first visit to the vote page sets the cookie.
func (v *voter) vote(choice string, deadline time.Time) error {
	u, _ := url.Parse(v.base)
	retry := false
	for {
		var resp *http.Response
		var err error
		if len(v.client.Jar.Cookies(u)) == 0 {
			resp, err = v.client.Get(v.base + "/")
		} else {
			resp, err = v.client.PostForm(v.base+"/vote", url.Values{"vote": {choice}})
		}
		wait := 200 * time.Millisecond
		status := "error"
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = strconv.Itoa(resp.StatusCode)
			if s, e := strconv.Atoi(resp.Header.Get("Retry-After")); e == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
		}
		replica := ""
		if resp != nil {
			replica = resp.Header.Get("X-Mitosis-Replica")
		}
		v.note(status, replica, retry)
		retry = true
		switch {
		case err == nil && resp.Request.Method == http.MethodGet && resp.StatusCode == http.StatusOK:
			retry = false
			continue // cookie set: now vote
		case err == nil && resp.StatusCode == http.StatusSeeOther:
			return nil
		case err == nil && resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusServiceUnavailable &&
			resp.StatusCode != http.StatusGatewayTimeout:
			return fmt.Errorf("vote %s: %s", choice, resp.Status)
		}
		if time.Now().Add(wait).After(deadline) {
			if err == nil {
				err = errors.New(resp.Status)
			}
			return fmt.Errorf("vote %s: gave up: %w", choice, err)
		}
		time.Sleep(wait) // Retry-After, or a short pause before clicking again
	}
}

// tally reads GET /result/votes.
func tally(base string) (Counts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/result/votes", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Counts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Counts{}, errors.New(resp.Status)
	}
	var c Counts
	err = json.NewDecoder(resp.Body).Decode(&c)
	return c, err
}
