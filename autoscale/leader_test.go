package autoscale

import "testing"

func TestLeader(t *testing.T) {
	ok := func(id string) Candidate { return Candidate{ID: id, Ready: true, CanScale: true} }
	tests := []struct {
		name   string
		self   Candidate
		others []Candidate
		want   bool
	}{
		{"alone", ok("b"), nil, true},
		{"smallest", ok("a"), []Candidate{ok("b"), ok("c")}, true},
		{"not smallest", ok("b"), []Candidate{ok("a"), ok("c")}, false},
		{"smaller one not ready", ok("b"), []Candidate{{ID: "a", CanScale: true}}, true},
		{"smaller one cannot scale", ok("b"), []Candidate{{ID: "a", Ready: true}}, true},
		{"smaller one without id", ok("b"), []Candidate{{Ready: true, CanScale: true}}, true},
		{"self not ready", Candidate{ID: "a", CanScale: true}, []Candidate{ok("b")}, false},
		{"self cannot scale", Candidate{ID: "a", Ready: true}, nil, false},
		{"self without id", Candidate{Ready: true, CanScale: true}, nil, false},
		{"self listed among others", ok("b"), []Candidate{ok("b"), ok("c")}, true},
		{"byte order, not length", ok("10"), []Candidate{ok("9")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Leader(tt.self, tt.others); got != tt.want {
				t.Errorf("Leader(%+v, %+v) = %t, want %t", tt.self, tt.others, got, tt.want)
			}
		})
	}
}

func TestLeaderExactlyOne(t *testing.T) {
	all := []Candidate{
		{ID: "d", Ready: true, CanScale: true},
		{ID: "a", Ready: false, CanScale: true},
		{ID: "c", Ready: true, CanScale: true},
		{ID: "b", Ready: true, CanScale: false},
	}
	var leaders []string
	for i, self := range all {
		others := append(append([]Candidate{}, all[:i]...), all[i+1:]...)
		if Leader(self, others) {
			leaders = append(leaders, self.ID)
		}
	}
	if len(leaders) != 1 || leaders[0] != "c" {
		t.Fatalf("leaders = %v, want exactly [c]", leaders)
	}
}
