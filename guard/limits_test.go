package guard

import (
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	clk := newClock()
	b := newBuckets(0.5, 2, clk.now) // one token each 2 s, two saved
	steps := []struct {
		after time.Duration
		key   string
		want  bool
	}{
		{0, "a", true},
		{0, "a", true},
		{0, "a", false},
		{0, "b", true}, // its own bucket
		{time.Second, "a", false},
		{time.Second, "a", true},
		{time.Hour, "a", true},
		{0, "a", true},
		{0, "a", false}, // the burst caps what an hour saved
	}
	for i, s := range steps {
		clk.add(s.after)
		if got := b.allow(s.key); got != s.want {
			t.Fatalf("step %d (%s after %s): allow = %v, want %v", i, s.key, s.after, got, s.want)
		}
	}
}

func TestSlots(t *testing.T) {
	s := newSlots(2)
	for i, want := range []bool{true, true, false} {
		if got := s.acquire("a"); got != want {
			t.Fatalf("acquire %d of a = %v, want %v (two slots)", i+1, got, want)
		}
	}
	if !s.acquire("b") {
		t.Fatal("b has its own slots")
	}
	s.release("a")
	if !s.acquire("a") {
		t.Fatal("a released slot is free again")
	}
	s.release("a")
	s.release("a")
	s.release("b")
	if len(s.n) != 0 {
		t.Fatalf("counts left: %v", s.n)
	}
}
