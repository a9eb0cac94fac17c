package app

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the child app: with APP_TEST_MODE set it
// runs that mode instead of the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("APP_TEST_MODE") {
	case "":
		os.Exit(m.Run())
	case "serve": // listen on PORT and answer with the path
		ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			os.Exit(5)
		}
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "child saw %s", r.URL.Path)
		}))
	case "exit3": // die before listening
		os.Exit(3)
	case "mute": // listen, but not on PORT; serve until stopped
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			os.Exit(5)
		}
		_, _ = ln.Accept() // nobody comes: SIGTERM (Stop) or the parent's death ends it
	}
	os.Exit(0)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func childArgv(t *testing.T, mode string) []string {
	t.Helper()
	t.Setenv("APP_TEST_MODE", mode)
	return []string{os.Args[0]}
}

// A child started with PORT is waited for, reached through the proxy, and
// stopped with SIGTERM.
func TestChildServedThroughProxy(t *testing.T) {
	c, err := StartChild(childArgv(t, "serve"), 10*time.Second, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(time.Second)
	if err := DialCheck(c.Addr())(t.Context()); err != nil {
		t.Fatalf("DialCheck on a listening child: %v", err)
	}
	srv := httptest.NewServer(NewProxy(&url.URL{Scheme: "http", Host: c.Addr()}, 4, quiet()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "child saw /hello" {
		t.Fatalf("through the proxy: %q", b)
	}
	c.Stop(5 * time.Second)
	select {
	case <-c.Done():
	default:
		t.Fatal("Stop returned before the child exited")
	}
	if err := DialCheck(c.Addr())(t.Context()); err == nil {
		t.Fatal("DialCheck passes on a stopped child")
	}
}

// A child that dies before it listens is a start-up error naming it, and
// its status is what mitosis exits with.
func TestChildExitsBeforeListening(t *testing.T) {
	_, err := StartChild(childArgv(t, "exit3"), 10*time.Second, quiet())
	if err == nil || !strings.Contains(err.Error(), "exited before listening") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("StartChild = %v, want an error saying it exited (status 3) before listening", err)
	}
}

// A child that never listens is stopped after the timeout.
func TestChildNeverListens(t *testing.T) {
	_, err := StartChild(childArgv(t, "mute"), 300*time.Millisecond, quiet())
	if err == nil || !strings.Contains(err.Error(), "did not listen") {
		t.Fatalf("StartChild = %v, want a timeout error", err)
	}
}

func TestExitCode(t *testing.T) {
	c, err := StartChild(childArgv(t, "serve"), 10*time.Second, quiet())
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(5 * time.Second) // SIGTERM: the child dies of the signal
	if got := c.ExitCode(); got != 128+15 {
		t.Fatalf("ExitCode after SIGTERM = %d, want 143", got)
	}
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	h := AccessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}), slog.New(slog.NewTextHandler(&buf, nil)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/pot?x=1", nil))
	line := buf.String()
	for _, want := range []string{"method=GET", "path=/pot", "status=418"} {
		if !strings.Contains(line, want) {
			t.Errorf("access log %q lacks %q", line, want)
		}
	}
}
