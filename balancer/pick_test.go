package balancer

import (
	"math"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/pool"
)

// seq is a random source that returns the given values in turn.
type seq struct {
	vals []int
	i    int
}

func (s *seq) intn(n int) int {
	v := s.vals[s.i%len(s.vals)] % n
	s.i++
	return v
}

func m(id string, inflight, capacity int, lat time.Duration) pool.Member {
	return pool.Member{Key: id, ID: id, Addr: id + ":80", State: pool.StateReady, Inflight: inflight, Capacity: capacity, LatencyEWMA: lat}
}

func TestPick(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		members []pool.Member
		tried   []string
		rand    []int
		want    string // "" = none
	}{
		{"empty", nil, nil, nil, ""},
		{"only self", []pool.Member{m("self", 0, 4, ms)}, nil, nil, ""},
		{"lowest expected wait of three", []pool.Member{m("a", 3, 8, ms), m("b", 1, 8, ms), m("c", 2, 8, ms)}, nil, nil, "b"},
		{"latency weighs in", []pool.Member{m("a", 0, 8, 10*ms), m("b", 3, 8, ms)}, nil, nil, "b"},
		{"full sibling skipped", []pool.Member{m("a", 4, 4, ms), m("b", 7, 8, 5*ms)}, nil, nil, "b"},
		{"all full", []pool.Member{m("a", 4, 4, ms), m("b", 8, 8, ms)}, nil, nil, ""},
		{"tried skipped", []pool.Member{m("a", 0, 8, ms), m("b", 5, 8, ms)}, []string{"a"}, nil, "b"},
		{"not ready skipped", []pool.Member{{Key: "a", ID: "a", Addr: "a:80", State: pool.StateDraining, Capacity: 8}, m("b", 5, 8, ms)}, nil, nil, "b"},
		{"two choices: lower of the pair", []pool.Member{
			m("a", 0, 8, ms), m("b", 6, 8, ms), m("c", 1, 8, ms), m("d", 5, 8, ms), m("e", 4, 8, ms), m("f", 3, 8, ms),
		}, nil, []int{1, 3}, "d"},
		{"two choices: full draws fall back to more draws", []pool.Member{
			m("a", 8, 8, ms), m("b", 8, 8, ms), m("c", 8, 8, ms), m("d", 8, 8, ms), m("e", 8, 8, ms), m("f", 2, 8, ms),
		}, nil, []int{0, 1, 2, 3, 4, 0, 1, 2}, "f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sibs := &fakeSiblings{Members: tt.members}
			h := &Handler{cfg: Config{ID: "self", MaxInflight: 4}}
			f := newForwarder(h, sibs, nil)
			r := &seq{vals: append(tt.rand, 0)}
			f.intn = r.intn
			got, _, ok := f.pick(tt.tried, math.MaxInt64)
			if tt.want == "" {
				if ok {
					t.Fatalf("picked %s, want none", got.ID)
				}
				return
			}
			if !ok || got.ID != tt.want {
				t.Fatalf("picked %v (ok=%v), want %s", got, ok, tt.want)
			}
		})
	}
}

func TestPickCountsOwnOutstanding(t *testing.T) {
	sibs := &fakeSiblings{Members: []pool.Member{m("a", 0, 2, time.Millisecond)}}
	f := newForwarder(&Handler{cfg: Config{ID: "self", MaxInflight: 4}}, sibs, nil)
	_, p, ok := f.pick(nil, math.MaxInt64)
	if !ok {
		t.Fatal("a has room")
	}
	p.outstanding.Add(2) // two forwards on their way, not yet in its report
	if _, _, ok := f.pick(nil, math.MaxInt64); ok {
		t.Fatal("picked a sibling whose capacity our own forwards already fill")
	}
}
