package h1

import (
	"strconv"
	"testing"
	"time"
)

// TestSiblingPoolsBounded: pools are reused per address, bounded in
// number (least recently used out), and dropped once unused for longer
// than their connections live (a sibling that left).
func TestSiblingPoolsBounded(t *testing.T) {
	up := helloUpstream(t)
	p := startProxy(t, up.addr(), nil)
	s := p.Server
	t0 := time.Now()
	first := s.siblingPool("10.0.0.1:80", t0)
	if s.siblingPool("10.0.0.1:80", t0.Add(time.Second)) != first {
		t.Fatal("a second pool for the same address")
	}
	for i := 2; i <= maxSiblingPools+1; i++ {
		s.siblingPool("10.0.0."+strconv.Itoa(i)+":80", t0.Add(time.Duration(i)*time.Second))
	}
	s.sibMu.Lock()
	n, kept := len(s.sibs), s.sibs["10.0.0.1:80"] != nil
	s.sibMu.Unlock()
	if n != maxSiblingPools || kept {
		t.Fatalf("%d pools (want %d), least recently used kept: %v", n, maxSiblingPools, kept)
	}
	if !first.closed {
		t.Error("the evicted pool was not closed")
	}
	// Much later, one new sibling: every pool unused since is dropped.
	s.siblingPool("10.0.1.1:80", t0.Add(time.Hour))
	s.sibMu.Lock()
	n = len(s.sibs)
	s.sibMu.Unlock()
	if n != 1 {
		t.Fatalf("%d pools after the others went unused for an hour, want 1", n)
	}
}
