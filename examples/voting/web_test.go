package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/functions"
	"github.com/mitosis-run/mitosis/internal/replica"
)

func readBody(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// fakeCaller records calls and answers with res, err; with a store set it
// records the vote there, like the record function.
type fakeCaller struct {
	reqs  []functions.Request
	res   functions.Result
	err   error
	store *store
}

func (f *fakeCaller) Call(ctx context.Context, name string, req functions.Request) (functions.Result, error) {
	f.reqs = append(f.reqs, req)
	if f.store != nil && f.err == nil && f.res.ExitCode == 0 {
		env := map[string]string{}
		for _, kv := range req.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		if err := f.store.put(env["VOTER_ID"], env["VOTE"]); err != nil {
			return functions.Result{ExitCode: 1}, nil
		}
	}
	return f.res, f.err
}

type fakeTier struct{ t replica.Tier }

func (f fakeTier) Tier() replica.Tier { return f.t }

func newTestWeb(t *testing.T, fc *fakeCaller, tr fakeTier) (*httptest.Server, *store) {
	t.Helper()
	st, err := openStore(filepath.Join(t.TempDir(), "votes.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	storeSrv := httptest.NewServer(st.handler())
	t.Cleanup(storeSrv.Close)
	fc.store = st
	wb := &web{store: storeSrv.URL, fns: fc, tier: tr, client: storeSrv.Client(), log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(wb.handler())
	t.Cleanup(srv.Close)
	return srv, st
}

func noRedirect(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type jar struct{ c []*http.Cookie }

func (j *jar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.c = append(j.c, cs...) }
func (j *jar) Cookies(*url.URL) []*http.Cookie          { return j.c }

// TestVoteFlow: the first visit sets the voter cookie; a vote runs the
// record function with the voter and the vote (and nothing from the
// request but them); a re-vote replaces it; the page shows the vote.
func TestVoteFlow(t *testing.T) {
	fc := &fakeCaller{}
	srv, st := newTestWeb(t, fc, fakeTier{})
	j := &jar{}
	c := noRedirect(j)
	resp, err := c.Get(srv.URL + "/")
	if err != nil || resp.StatusCode != 200 || len(j.c) != 1 || !voterID.MatchString(j.c[0].Value) || !j.c[0].HttpOnly {
		t.Fatalf("first visit: %v %v, cookies %v", resp, err, j.c)
	}
	readBody(resp)
	id := j.c[0].Value
	for _, v := range []string{"a", "b"} {
		resp, err = c.PostForm(srv.URL+"/vote", url.Values{"vote": {v}})
		if err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("vote %s: %v %v", v, resp, err)
		}
		readBody(resp)
	}
	if n := len(j.c); n != 1 {
		t.Errorf("%d cookies: a vote with a cookie set another", n)
	}
	last := fc.reqs[len(fc.reqs)-1]
	if strings.Join(last.Env, " ") != "VOTER_ID="+id+" VOTE=b" || last.Args[0] != "-store" || len(last.Stdin) != 0 {
		t.Fatalf("record call %+v", last)
	}
	if v, _ := st.get(id); v != "b" {
		t.Errorf("stored vote %q, want b", v)
	}
	resp, _ = c.Get(srv.URL + "/")
	if body := readBody(resp); !strings.Contains(body, "You voted for Dogs") {
		t.Errorf("vote page does not show the vote:\n%s", body)
	}
	resp, _ = c.Get(srv.URL + "/result/votes")
	if body := readBody(resp); body != `{"a":0,"b":1}`+"\n" {
		t.Errorf("/result/votes = %q", body)
	}
}

func TestVoteErrors(t *testing.T) {
	tests := []struct {
		name   string
		form   string
		res    functions.Result
		err    error
		code   int
		retry  bool
		called bool
	}{
		{"no vote", "", functions.Result{}, nil, 400, false, false},
		{"other option", "vote=c", functions.Result{}, nil, 400, false, false},
		{"busy", "vote=a", functions.Result{}, functions.ErrBusy, 503, true, true},
		{"no slot in time", "vote=a", functions.Result{}, functions.ErrQueueTimeout, 503, true, true},
		{"failed", "vote=a", functions.Result{ExitCode: 1, Stderr: []byte("store down")}, nil, 502, false, true},
		{"could not run", "vote=a", functions.Result{}, errors.New("no such image"), 502, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := &fakeCaller{res: tt.res, err: tt.err}
			srv, _ := newTestWeb(t, fc, fakeTier{})
			resp, err := http.Post(srv.URL+"/vote", "application/x-www-form-urlencoded", strings.NewReader(tt.form))
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(resp)
			if resp.StatusCode != tt.code || (resp.Header.Get("Retry-After") != "") != tt.retry || (len(fc.reqs) > 0) != tt.called {
				t.Fatalf("%d %q Retry-After %q, %d calls", resp.StatusCode, body, resp.Header.Get("Retry-After"), len(fc.reqs))
			}
			if strings.Contains(body, "store down") {
				t.Errorf("the function's stderr reached the client: %q", body)
			}
		})
	}
	// A vote without a cookie gets one, and JSON when it asks for it.
	fc := &fakeCaller{}
	srv, _ := newTestWeb(t, fc, fakeTier{})
	req, _ := http.NewRequest("POST", srv.URL+"/vote", strings.NewReader("vote=a"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(resp); resp.StatusCode != 200 || !strings.Contains(body, `"vote":"a"`) || len(resp.Cookies()) != 1 {
		t.Errorf("JSON vote without a cookie: %d %q %v", resp.StatusCode, body, resp.Cookies())
	}
}

func TestTierLine(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv, _ := newTestWeb(t, &fakeCaller{}, fakeTier{replica.Tier{Replicas: 3,
		LastScale: &autoscale.Decision{Time: at, Current: 2, Desired: 3, Reason: "p95 over the SLO"}}})
	resp, err := http.Get(srv.URL + "/result/tier")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"last_scale":{"at":"2026-01-02T03:04:05Z","from":2,"reason":"p95 over the SLO","to":3},"replicas":3}` + "\n"
	if body := readBody(resp); body != want {
		t.Errorf("/result/tier = %q, want %q", body, want)
	}
	resp, _ = http.Get(srv.URL + "/result")
	if body := readBody(resp); !strings.Contains(body, "setInterval(refresh, 1500)") || !strings.Contains(body, "/result/tier") {
		t.Errorf("result page does not poll every 1.5 s")
	}
}
