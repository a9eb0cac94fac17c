package libuse

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mitosis-run/mitosis/functions"
)

// With one slot and no queue, a second request while the first is inside
// the app is shed with 503 and Retry-After; the first one is answered, and
// the balancer's metrics are on the caller's registry.
func TestWrapShedsBeyondCapacity(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	})
	reg := prometheus.NewRegistry()
	h, err := Wrap(app, 1, 0, reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	first := make(chan string, 1)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			first <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		first <- resp.Status + " " + string(b)
	}()
	<-entered

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second request = %s, Retry-After %q; want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	close(release)
	if got := <-first; got != "200 OK done" {
		t.Fatalf("first request = %q, want 200 OK done", got)
	}

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"mitosis_inflight", "mitosis_shed_total"} {
		if !names[want] {
			t.Errorf("registry lacks %s", want)
		}
	}
}

// A function called from another module: stdin in, stdout out, within
// the set's limits.
func TestFunctionsCall(t *testing.T) {
	if _, err := exec.LookPath("tr"); err != nil {
		t.Skip("no tr on this machine")
	}
	set, err := Functions(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close(context.Background())
	res, err := set.Call(context.Background(), "upper", functions.Request{Stdin: []byte("cats")})
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "CATS" {
		t.Fatalf("Call = %+v, %v; want CATS", res, err)
	}
}
