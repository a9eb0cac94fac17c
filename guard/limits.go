package guard

import (
	"sync"
	"time"
)

// buckets is a token bucket per key (a service id): rate tokens a second,
// at most burst saved. Safe for concurrent use.
type buckets struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newBuckets(rate, burst float64, now func() time.Time) *buckets {
	return &buckets{rate: rate, burst: max(burst, 1), now: now, m: map[string]*bucket{}}
}

// allow takes a token of key's bucket if one is there.
func (b *buckets) allow(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	k, ok := b.m[key]
	if !ok {
		k = &bucket{tokens: b.burst, at: now}
		b.m[key] = k
	}
	if dt := now.Sub(k.at).Seconds(); dt > 0 {
		k.tokens = min(b.burst, k.tokens+dt*b.rate)
	}
	k.at = now
	if k.tokens < 1 {
		return false
	}
	k.tokens--
	return true
}

// slots counts what each key holds at once, up to max. Safe for
// concurrent use.
type slots struct {
	max int

	mu sync.Mutex
	n  map[string]int
}

func newSlots(max int) *slots { return &slots{max: max, n: map[string]int{}} }

// acquire takes a slot of key if one is free; release gives it back.
func (s *slots) acquire(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[key] >= s.max {
		return false
	}
	s.n[key]++
	return true
}

func (s *slots) release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[key] <= 1 {
		delete(s.n, key)
		return
	}
	s.n[key]--
}
