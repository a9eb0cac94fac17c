package replica

import (
	"strings"
	"testing"

	"github.com/mitosis-run/mitosis/autoscale"
	"github.com/mitosis-run/mitosis/pool"
)

func TestTLSView(t *testing.T) {
	m := func(id string, st pool.MemberState, canScale bool) pool.Member {
		return pool.Member{ID: id, AdminAddr: id + ":9090", State: st, CanScale: canScale}
	}
	cases := []struct {
		name       string
		self       autoscale.Candidate
		members    []pool.Member
		wantLeader bool
		wantPeers  string
	}{
		{"alone", autoscale.Candidate{ID: "b", Ready: true, CanScale: true}, nil, true, ""},
		{"smaller id leads, first in peers", autoscale.Candidate{ID: "b", Ready: true, CanScale: true},
			[]pool.Member{m("c", pool.StateReady, true), m("a", pool.StateReady, true)}, false, "a:9090,c:9090"},
		{"the one that can scale leads, though its id is larger", autoscale.Candidate{ID: "a", Ready: true, CanScale: false},
			[]pool.Member{m("b", pool.StateReady, false), m("c", pool.StateReady, true)}, false, "c:9090,b:9090"},
		{"nobody can scale: smallest ready id", autoscale.Candidate{ID: "b", Ready: true, CanScale: false},
			[]pool.Member{m("c", pool.StateReady, false), m("d", pool.StateReady, false)}, true, "c:9090,d:9090"},
		{"down and joining are not asked; draining is, last", autoscale.Candidate{ID: "b", Ready: true, CanScale: true},
			[]pool.Member{m("a", pool.StateDown, true), m("c", pool.StateJoining, true), m("d", pool.StateDraining, true), m("e", pool.StateReady, true)}, true, "d:9090,e:9090"},
		{"self listed among members is skipped", autoscale.Candidate{ID: "b", Ready: true, CanScale: true},
			[]pool.Member{m("b", pool.StateReady, true), m("c", pool.StateReady, true)}, true, "c:9090"},
		{"a draining self does not lead", autoscale.Candidate{ID: "a", Ready: false, CanScale: true},
			[]pool.Member{m("b", pool.StateReady, true)}, false, "b:9090"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lead, peers := tlsView(tc.self, tc.members)
			if lead != tc.wantLeader || strings.Join(peers, ",") != tc.wantPeers {
				t.Fatalf("tlsView = %v, %v; want %v, %s", lead, peers, tc.wantLeader, tc.wantPeers)
			}
		})
	}
}
