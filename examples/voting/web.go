package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mitosis-run/mitosis/functions"
	"github.com/mitosis-run/mitosis/internal/replica"
)

// cookieName names the voter: one vote per cookie, a re-vote replaces it.
const cookieName = "voter_id"

// tier is what the web pages say of the replicas (*replica.Replica).
type tier interface {
	Tier() replica.Tier
}

// caller runs the record function (*functions.Set).
type caller interface {
	Call(ctx context.Context, name string, req functions.Request) (functions.Result, error)
}

// web serves the vote and result pages. Each vote runs the record
// function once, with the limits of the replica's function set.
type web struct {
	store  string   // the store's URL
	args   []string // arguments of every record call after -store (e.g. -work)
	fns    caller
	tier   tier
	client *http.Client
	log    *slog.Logger
}

func (wb *web) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", wb.votePage)
	mux.HandleFunc("POST /vote", wb.vote)
	mux.HandleFunc("GET /result", wb.resultPage)
	mux.HandleFunc("GET /result/{$}", wb.resultPage)
	mux.HandleFunc("GET /result/votes", wb.votes)
	mux.HandleFunc("GET /result/tier", wb.tierInfo)
	return mux
}

// voterOf returns the request's voter id, setting a new cookie when there
// is none (or it is not one of ours).
func voterOf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(cookieName); err == nil && voterID.MatchString(c.Value) {
		return c.Value
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: 365 * 24 * 3600})
	return id
}

func (wb *web) votePage(w http.ResponseWriter, r *http.Request) {
	id := voterOf(w, r)
	current, _ := wb.storeGet(r.Context(), "/votes/"+id) // best effort: the page works without it
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = votePage.Execute(w, map[string]any{"A": optionA, "B": optionB, "Current": strings.TrimSpace(current)})
}

// vote records the form's vote for the cookie's voter through the record
// function: 303 back to the vote page (200 JSON when asked for JSON), 400
// for a bad vote, 503 with Retry-After when the function is busy, 502
// when it failed.
func (wb *web) vote(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<10)
	v := r.PostFormValue("vote")
	if !validVote(v) {
		http.Error(w, "vote must be a or b", http.StatusBadRequest)
		return
	}
	id := voterOf(w, r)
	res, err := wb.fns.Call(r.Context(), "record", functions.Request{
		Args: append([]string{"-store", wb.store}, wb.args...),
		Env:  []string{"VOTER_ID=" + id, "VOTE=" + v},
	})
	switch {
	case errors.Is(err, functions.ErrBusy), errors.Is(err, functions.ErrQueueTimeout), errors.Is(err, functions.ErrDraining):
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy: try again in a second", http.StatusServiceUnavailable)
		return
	case r.Context().Err() != nil:
		return
	case err != nil || res.ExitCode != 0:
		wb.log.Warn("vote not recorded", "err", err, "exit", res.ExitCode, "stderr", string(res.Stderr))
		http.Error(w, "your vote could not be recorded: try again", http.StatusBadGateway)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, map[string]string{"voter_id": id, "vote": v})
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (wb *web) resultPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = resultPage.Execute(w, map[string]any{"A": optionA, "B": optionB})
}

// votes answers {"a": N, "b": M} from the store.
func (wb *web) votes(w http.ResponseWriter, r *http.Request) {
	body, err := wb.storeGet(r.Context(), "/counts")
	var c Counts
	if err == nil {
		err = json.Unmarshal([]byte(body), &c)
	}
	if err != nil {
		wb.log.Warn("store unreachable", "err", err)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "the store does not answer", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, c)
}

// tierInfo says how many replicas serve and why the tier last scaled.
func (wb *web) tierInfo(w http.ResponseWriter, r *http.Request) {
	t := wb.tier.Tier()
	out := map[string]any{"replicas": t.Replicas}
	if d := t.LastScale; d != nil {
		out["last_scale"] = map[string]any{"at": d.Time.Format(time.RFC3339), "from": d.Current, "to": d.Desired, "reason": d.Reason}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, out)
}

// storeGet reads path from the store: the body of a 200, "" for a 404.
func (wb *web) storeGet(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wb.store+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := wb.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", nil
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("store: GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
