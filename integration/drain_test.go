package integration

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDrainOnSIGTERM: clients keep calling one replica while it gets
// SIGTERM. Readiness fails at once; every request that was accepted gets
// its complete answer; new connections are refused only once the listener
// closed; the process exits 0 within the drain timeout.
func TestDrainOnSIGTERM(t *testing.T) {
	integration(t)
	p := startReady(t, "drn", []string{
		"MITOSIS_DRAIN_DELAY=500ms",
		"MITOSIS_DRAIN_TIMEOUT=5s",
	})
	c := loadClient(t)

	const workers = 50
	var (
		mu       sync.Mutex
		results  []result
		wg       sync.WaitGroup
		sigtermd time.Time
	)
	deadline := time.Now().Add(4 * time.Second)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				r := doGet(c, p.pubURL("/work?ms=20"), nil, 6*time.Second)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if notAccepted(r.err) {
					return // the listener is closed for good
				}
			}
		}()
	}

	// SIGTERM once the load is in full swing: requests are in flight.
	waitFor(t, 5*time.Second, "100 requests served before SIGTERM", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(results) >= 100
	})
	mu.Lock()
	before := len(results)
	sigtermd = time.Now()
	mu.Unlock()
	p.signal(syscall.SIGTERM)

	// Readiness fails right away (well within the 500ms drain delay, while
	// the admin server still answers).
	waitFor(t, 300*time.Millisecond, "/readyz to turn 503", func() bool {
		code, _, err := get(p.adminURL("/readyz"), nil)
		return err == nil && code == 503
	})
	st, err := p.state(nil)
	if err != nil || !st.Draining {
		t.Errorf("state during the drain delay: draining=%v err=%v, want true", st.Draining, err)
	}

	status := p.waitExit(5*time.Second + 2*time.Second)
	exitedAfter := time.Since(sigtermd)
	wg.Wait()

	// The listener stops accepting DRAIN_DELAY after SIGTERM. A request
	// sent after that on a new connection may have been half-open in the
	// kernel (the handshake completed, the server never accepted it); it is
	// reset when the socket closes. It was never accepted, like a refused
	// one. Any failure of a request sent before then is a lost request.
	// The replica starts its delay when the signal arrives, a little after
	// sigtermd: 25 ms of slack for that and for a handshake in flight.
	closeAt := sigtermd.Add(500*time.Millisecond - 25*time.Millisecond)
	var ok, refused, servedAfter, lateReset int
	for _, r := range results {
		switch {
		case notAccepted(r.err):
			refused++
		case r.err != nil && (errors.Is(r.err, io.EOF) || errors.Is(r.err, syscall.ECONNRESET)) && r.start.After(closeAt):
			lateReset++
		case r.err != nil:
			t.Errorf("request sent %s after SIGTERM failed (not a refused connection), %s later: %v",
				r.start.Sub(sigtermd).Round(time.Millisecond), r.end.Sub(r.start).Round(time.Millisecond), r.err)
		case r.code != 200:
			t.Errorf("status %d %q: every accepted request must be served", r.code, r.body)
		case r.body != "worked 20ms on drn\n":
			t.Errorf("truncated or wrong body %q", r.body)
		default:
			ok++
			if r.start.After(sigtermd) {
				servedAfter++
			}
		}
	}
	t.Logf("%d requests before SIGTERM, %d served in all, %d of them sent after SIGTERM, %d refused, %d reset on a connection made after the listener stopped accepting; exit %d after %s",
		before, ok, servedAfter, refused, lateReset, status, exitedAfter.Round(time.Millisecond))
	if before == 0 {
		t.Fatal("no request was served before SIGTERM")
	}
	// During MITOSIS_DRAIN_DELAY the replica still accepts (siblings may
	// not know yet that it drains).
	if servedAfter == 0 {
		t.Error("no request sent after SIGTERM was served: the drain delay must keep accepting")
	}
	if refused+lateReset == 0 {
		t.Error("no connection was refused: the listener should close after the drain delay, before the clients stop")
	}
	if status != 0 {
		t.Errorf("exit status %d, want 0 after a clean drain", status)
	}
	if exitedAfter < 500*time.Millisecond {
		t.Errorf("exited %s after SIGTERM, before the 500ms drain delay", exitedAfter)
	}
	if !strings.Contains(p.log(), "drained") {
		t.Errorf("log lacks the drained line")
	}
}

// notAccepted reports a request that never reached the server: the
// connection was refused (listener closed) or reset during the handshake.
func notAccepted(err error) bool {
	var op *net.OpError
	return isRefused(err) || (errors.As(err, &op) && op.Op == "dial" && errors.Is(err, syscall.ECONNRESET))
}
