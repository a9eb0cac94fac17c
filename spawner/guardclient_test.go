package spawner

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

func TestReadGuardToken(t *testing.T) {
	const secret = "0123456789abcdef0123"
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tok, err := ReadGuardToken("MITOSIS_GUARD_TOKEN_FILE", write("ok", " "+secret+"\n"))
	if err != nil || string(tok) != secret {
		t.Fatalf("token = %q, %v", tok, err)
	}
	if _, err := ReadGuardToken("MITOSIS_GUARD_TOKEN_FILE", write("short", "abc\n")); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short token: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if _, err := ReadGuardToken("MITOSIS_GUARD_TOKEN_FILE", missing); err == nil || !strings.Contains(err.Error(), "MITOSIS_GUARD_TOKEN_FILE="+missing+": no such file") ||
		!strings.Contains(err.Error(), "docker secret create") {
		t.Fatalf("missing file: %v", err)
	}
}
