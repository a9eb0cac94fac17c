package wait

import (
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	n := 0
	if !Until(10*time.Second, time.Millisecond, func() bool { n++; return n == 3 }) {
		t.Fatal("Until gave up on a condition that became true on the third call")
	}
	if n != 3 {
		t.Fatalf("cond called %d times, want 3 (stop once true)", n)
	}
	calls := 0
	if Until(20*time.Millisecond, time.Millisecond, func() bool { calls++; return false }) {
		t.Fatal("Until returned true for a condition that never holds")
	}
	if calls < 2 {
		t.Fatalf("cond called %d times over the timeout, want the first and a last one at least", calls)
	}
}
