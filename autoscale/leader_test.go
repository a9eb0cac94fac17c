package autoscale

import "testing"

func TestLeader(t *testing.T) {
	ok := func(id string) Candidate { return Candidate{ID: id, Ready: true, CanScale: true} }
	lead := func(id string) Candidate { return Candidate{ID: id, Ready: true, CanScale: true, Leading: true} }
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
		{"a sitting leader with a larger id keeps the lead", ok("a"), []Candidate{lead("b")}, false},
		{"a sitting leader steps back for a smaller one", ok("b"), []Candidate{ok("a")}, false},
		{"two that both report leading both step back", ok("a"), []Candidate{lead("b")}, false},
		{"a report from one not ready counts for nothing", ok("a"), []Candidate{{ID: "b", CanScale: true, Leading: true}}, true},
		{"a report from one that cannot scale counts for nothing", ok("a"), []Candidate{{ID: "b", Ready: true, Leading: true}}, true},
		{"self's own report is not a rival", lead("a"), []Candidate{lead("a"), ok("b")}, true},
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

// TestLeaderHandover plays the handover between a sitting leader "b" and
// a new replica "a" with a smaller id, report by report, with the views
// lagging as they do across nodes: "a" sees "b" at once, "b" finds "a"
// only later. At no step do both lead, and "a" leads in the end.
func TestLeaderHandover(t *testing.T) {
	type view struct {
		aSeesB   bool // "a" has "b" in its table, with b's last report
		bSeesA   bool
		bReports bool // what b's last report, as "a" read it, said
		aReports bool
	}
	steps := []struct {
		name           string
		v              view
		aLeads, bLeads bool
	}{
		{"b alone", view{bReports: true}, false, true}, // a not yet eligible here: see below
		{"a sees b leading, b has not found a", view{aSeesB: true, bReports: true}, false, true},
		{"b finds a and steps back; a read b's old report", view{aSeesB: true, bSeesA: true, bReports: true}, false, false},
		{"a reads b's new report", view{aSeesB: true, bSeesA: true, bReports: false}, true, false},
		{"b reads a's report: a leads", view{aSeesB: true, bSeesA: true, aReports: true}, true, false},
	}
	for i, st := range steps {
		a := Candidate{ID: "a", Ready: true, CanScale: i > 0, Leading: st.v.aReports}
		b := Candidate{ID: "b", Ready: true, CanScale: true, Leading: st.v.bReports}
		var aOthers, bOthers []Candidate
		if st.v.aSeesB {
			aOthers = append(aOthers, b)
		}
		if st.v.bSeesA {
			bOthers = append(bOthers, a)
		}
		aLeads, bLeads := Leader(a, aOthers), Leader(b, bOthers)
		if aLeads && bLeads {
			t.Fatalf("step %q: both lead", st.name)
		}
		if aLeads != st.aLeads || bLeads != st.bLeads {
			t.Errorf("step %q: a leads %t, b leads %t; want %t, %t", st.name, aLeads, bLeads, st.aLeads, st.bLeads)
		}
	}
}
