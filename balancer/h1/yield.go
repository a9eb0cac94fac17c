package h1

import (
	"runtime"
	"sync/atomic"
	"time"
)

// yieldGuard is how long the fast path keeps yielding (wakeClock.yield)
// after the network poller last woke a reader. Measured with wrk -c64 on 2
// cores (upstream at GOGC=4000, median of 4 rounds): p99 3.00 ms at 250 µs
// (nginx 3.06), 3.54 at 500 µs, 3.66 without the guard; with the normal
// upstream 50 µs gave the highest p99 of 50/100/250 µs, and 100-250 µs
// were within the noise of each other.
const yieldGuard = 250 * time.Microsecond

// wakeClock decides whether a connection about to read should first let
// the others run (runtime.Gosched), and remembers when a read last had to
// wait for the network poller.
//
// Yielding before a read that would fail saves the failed system call and
// a park: after a request was sent to the app, or a response to the
// client, the answer is usually there by the time the other connections
// have had their turn. But the Go scheduler polls the network only when
// no goroutine is runnable. With GOMAXPROCS=1 and enough busy connections
// the yielders keep the run queue full, and a connection that did park
// waits for the runtime's 10 ms fallback poll: measured in execution
// traces, hundreds of 1-10 ms stretches per second without a poll, and
// the closed-loop p99 20-30% above nginx's. So yielding stops when no
// parked read has been woken for yieldGuard: the yielders then read, the
// ones without data park, the run queue drains, the poller runs, and the
// wake-up that follows turns yielding back on.
//
// Safe for concurrent use.
type wakeClock struct {
	epoch time.Time
	last  atomic.Int64 // when a waiting read was woken, ns since epoch
}

func newWakeClock() *wakeClock { return &wakeClock{epoch: time.Now()} }

// woke records that a read was woken by the poller.
func (w *wakeClock) woke() { w.last.Store(int64(time.Since(w.epoch))) }

// fresh reports whether a read was woken less than yieldGuard before now
// (as time since epoch).
func (w *wakeClock) fresh(now time.Duration) bool {
	return now-time.Duration(w.last.Load()) < yieldGuard
}

// yield lets the other goroutines run first while the poller is fresh
// (always where reads do not report wake-ups).
func (w *wakeClock) yield() {
	if !wakeTracking || w.fresh(time.Since(w.epoch)) {
		runtime.Gosched()
	}
}
