package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// record is the function run once per vote (the article's record-vote
// container): it takes the voter and the vote from its environment
// (VOTER_ID, VOTE, set by the web tier), writes them to the store given by
// -store, prints one line and exits 0; on any failure it says why on
// stderr and exits 1 (the web tier answers 502, the voter may retry).
func record(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeURL := fs.String("store", os.Getenv("VOTING_STORE"), "the store's URL")
	timeout := fs.Duration("timeout", 5*time.Second, "how long the store may take")
	work := fs.Duration("work", 0, "time spent before writing, at most 10s (VOTING_RECORD_WORK: a container's start-up cost felt locally)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *work < 0 || *work > 10*time.Second {
		fmt.Fprintf(stderr, "record: -work %s: must be in [0; 10s]\n", *work)
		return 2
	}
	voter, vote := os.Getenv("VOTER_ID"), os.Getenv("VOTE")
	if !voterID.MatchString(voter) || !validVote(vote) {
		fmt.Fprintf(stderr, "record: VOTER_ID=%q VOTE=%q: want 32 hex digits and a or b\n", voter, vote)
		return 1
	}
	if *storeURL == "" {
		fmt.Fprintln(stderr, "record: no store (-store or VOTING_STORE)")
		return 1
	}
	time.Sleep(*work) // the simulated work, if any
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimSuffix(*storeURL, "/")+"/votes/"+voter, strings.NewReader(vote))
	if err != nil {
		fmt.Fprintf(stderr, "record: %v\n", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "record: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		fmt.Fprintf(stderr, "record: store answered %s: %s\n", resp.Status, b)
		return 1
	}
	fmt.Fprintf(stdout, "recorded %s for %s\n", vote, voter)
	return 0
}
