package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func voterN(i int) string { return fmt.Sprintf("%032x", i) }

// TestStoreOneRowPerVoter: a re-vote replaces the row and moves the
// count; concurrent votes (batched) keep counts equal to rows; the votes
// survive a reopen; a second store on the same file is refused.
func TestStoreOneRowPerVoter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "votes.db")
	s, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, v := range []string{"a", "b", "a"} { // ends on a
				if err := s.put(voterN(i), v); err != nil {
					t.Error(err)
				}
			}
			if i%4 == 0 {
				if err := s.put(voterN(i), "b"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := s.put(voterN(1), "a"); err != nil { // the same vote again: no change
		t.Fatal(err)
	}
	check := func(s *store) {
		t.Helper()
		c, err := s.counts()
		rows, err2 := s.rows()
		if err != nil || err2 != nil || c != (Counts{A: 75, B: 25}) || rows != 100 {
			t.Fatalf("counts %+v, rows %d (%v %v); want a=75 b=25 in 100 rows", c, rows, err, err2)
		}
	}
	check(s)
	if _, err := openStore(path); err == nil {
		t.Fatal("a second store on the same file opened")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
	if v, _ := s.get(voterN(4)); v != "b" {
		t.Errorf("voter 4: %q, want b", v)
	}
	for _, bad := range [][2]string{{"x", "a"}, {voterN(1), "c"}, {strings.ToUpper(voterN(0xabc)), "a"}} {
		if err := s.put(bad[0], bad[1]); err == nil {
			t.Errorf("put(%q, %q): no error", bad[0], bad[1])
		}
	}
}

func TestStoreHTTP(t *testing.T) {
	s, err := openStore(filepath.Join(t.TempDir(), "votes.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	put := func(voter, body string) int {
		req, _ := http.NewRequest("PUT", srv.URL+"/votes/"+voter, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := put(voterN(7), "b"); c != 204 {
		t.Fatalf("PUT: %d", c)
	}
	for _, bad := range [][2]string{{voterN(7), "c"}, {"nope", "a"}, {voterN(7), "aa"}} {
		if c := put(bad[0], bad[1]); c != 400 {
			t.Errorf("PUT %v: %d, want 400", bad, c)
		}
	}
	for path, want := range map[string]string{"/votes/" + voterN(7): "b", "/counts": `{"a":0,"b":1}` + "\n"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		if got := readBody(resp); got != want {
			t.Errorf("GET %s = %q, want %q", path, got, want)
		}
	}
	if resp, _ := http.Get(srv.URL + "/votes/" + voterN(8)); resp == nil || resp.StatusCode != 404 {
		t.Errorf("GET an unknown voter: %v, want 404", resp)
	}
}
