// Package wait polls a condition against a deadline: what tests use instead
// of sleeping when no event tells them that something happened. It must not
// be used where a channel, a hook or an injected clock can say so directly.
package wait

import "time"

// Until calls cond now and then every `every` until it returns true (Until
// returns true) or timeout has passed (false, after one last call).
func Until(timeout, every time.Duration, cond func() bool) bool {
	tick := time.NewTicker(every)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			return cond()
		}
	}
	return true
}
