package spawner

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The client against the real guard is tested in package guard; here what
// needs no guard.

func TestGuardClientConfigValidate(t *testing.T) {
	ok := DefaultGuardClientConfig("tasks.guard:7070")
	ok.Token = "t"
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"tasks.guard", ":7070", "guard:0", "guard:http"} {
		c := ok
		c.Addr = addr
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("addr %q: %v", addr, err)
		}
	}
	c := ok
	c.Token = ""
	if err := c.Validate(); err == nil {
		t.Error("empty token accepted")
	}
}

// TestGuardClientForeignAnswer: an answer that is not the guard's (a
// proxy's error page) is an error with its status, never a result.
func TestGuardClientForeignAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
		}
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>bad gateway</html>"))
	}))
	defer srv.Close()
	cfg := DefaultGuardClientConfig(srv.Listener.Addr().String())
	cfg.Token = "secret"
	g, err := NewGuardClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = g.Scale(context.Background(), 3, 1)
	var ge *GuardError
	if !errors.As(err, &ge) || ge.Status != 502 || ge.Rule != "" || IsConflict(err) {
		t.Fatalf("Scale = %v, want a GuardError 502 without a rule", err)
	}
}
