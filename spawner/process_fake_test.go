//go:build unix

package spawner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/internal/wait"
	"github.com/mitosis-run/mitosis/pool"
)

// The test binary doubles as the child of the process driver (a tiny fake
// mitosis) and as an intermediate parent for the orphan test. Switches:
//
//	MITOSIS_TEST_CHILD=1         run fakeChild
//	MITOSIS_TEST_INTERMEDIATE=1  run intermediate (checked after the above,
//	                             since a child inherits its parent's env)
//	MITOSIS_TEST_INFLIGHT=N      the child's reported in-flight
//	MITOSIS_TEST_NEVER_READY=1   the child's /readyz answers 503
//	MITOSIS_TEST_IGNORE_TERM=1   the child ignores SIGTERM
//	MITOSIS_TEST_NO_WATCH=1      the child does not call WatchParent
func TestMain(m *testing.M) {
	switch {
	case os.Getenv("MITOSIS_TEST_CHILD") == "1":
		os.Exit(fakeChild())
	case os.Getenv("MITOSIS_TEST_INTERMEDIATE") == "1":
		os.Exit(intermediate())
	}
	os.Exit(m.Run())
}

// fakeChild listens on MITOSIS_LISTEN and MITOSIS_ADMIN_LISTEN, serves
// /readyz, /_mitosis/state and /env (its MITOSIS_* variables), and on
// SIGTERM (or when its parent is gone) drains briefly and exits 0.
func fakeChild() int {
	pub, err := net.Listen("tcp", os.Getenv("MITOSIS_LISTEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake child:", err)
		return 3
	}
	adm, err := net.Listen("tcp", os.Getenv("MITOSIS_ADMIN_LISTEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake child:", err)
		return 3
	}
	id := os.Getenv("MITOSIS_REPLICA_ID")
	inflight, _ := strconv.Atoi(os.Getenv("MITOSIS_TEST_INFLIGHT"))
	var draining atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() || os.Getenv("MITOSIS_TEST_NEVER_READY") == "1" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/_mitosis/state", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(pool.State{ID: id, Inflight: inflight, Queued: 1, Draining: draining.Load(), Ready: !draining.Load()})
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, _ *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "MITOSIS_") && !strings.HasPrefix(k, "MITOSIS_TEST_") {
				env[k] = v
			}
		}
		_ = json.NewEncoder(w).Encode(env)
	})
	admSrv := &http.Server{Handler: mux}
	pubSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, id) })}
	go func() { _ = admSrv.Serve(adm) }()
	go func() { _ = pubSrv.Serve(pub) }()

	sig := make(chan os.Signal, 1)
	if os.Getenv("MITOSIS_TEST_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	} else {
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	}
	var parentGone <-chan struct{}
	if ppid, err := strconv.Atoi(os.Getenv("MITOSIS_PARENT_PID")); err == nil && os.Getenv("MITOSIS_TEST_NO_WATCH") != "1" {
		parentGone = WatchParent(context.Background(), ppid, 100*time.Millisecond)
	}
	// Bounded: a stray child leaves on its own after a minute.
	select {
	case <-sig:
	case <-parentGone:
	case <-time.After(time.Minute):
		return 4
	}
	draining.Store(true)
	// Like mitosis's drain delay: keep serving a moment while draining, so
	// the parent's polls can see it.
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = pubSrv.Shutdown(ctx)
	_ = admSrv.Shutdown(ctx)
	return 0
}

// intermediate starts a Process with one child that does not watch its
// parent (so only the kernel's parent-death signal can stop it), prints
// "pid <child pid>" once the child is ready, and waits to be killed.
func intermediate() int {
	p, err := NewProcess(ProcessConfig{
		Binary:       os.Args[0],
		Args:         []string{},
		Env:          append(childTestEnv(), "MITOSIS_TEST_NO_WATCH=1"),
		ParentID:     "mid",
		ParentAdmin:  "127.0.0.1:1",
		PollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "intermediate:", err)
		return 3
	}
	ctx := context.Background()
	st, _ := p.Status(ctx)
	if err := p.Scale(ctx, 2, st.Version); err != nil {
		fmt.Fprintln(os.Stderr, "intermediate:", err)
		return 3
	}
	var ready []Replica
	if !pollUntil(15*time.Second, func() bool { ready = p.Replicas(); return len(ready) == 1 && ready[0].Ready }) {
		fmt.Fprintln(os.Stderr, "intermediate: child not ready")
		_ = p.Close(ctx)
		return 5
	}
	fmt.Printf("pid %d\n", ready[0].PID)
	// The test kills us; should it die first, our stdin closes.
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// pollUntil calls cond every 10ms until it returns true (true) or d has
// passed (false).
func pollUntil(d time.Duration, cond func() bool) bool {
	return wait.Until(d, 10*time.Millisecond, cond)
}

// alive reports whether pid exists and is not a zombie (an orphan's zombie
// lingers until whatever adopted it reaps it; in a container that may be
// never).
func pidAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return true // no /proc (non-Linux): trust kill
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false // reaped between the two checks
	}
	// Format: pid (comm) state ...; comm may contain spaces or parens.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
