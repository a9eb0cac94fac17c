package admin

import (
	"encoding/json"
	"testing"

	"github.com/mitosis-run/mitosis/pool"
)

func TestTargets(t *testing.T) {
	members := []pool.Member{
		{Key: "127.0.0.1:9093", AdminAddr: "127.0.0.1:9093", ID: "web-3", State: pool.StateReady},
		{Key: "127.0.0.1:9092", AdminAddr: "127.0.0.1:9092", ID: "web-2", State: pool.StateDraining},
		{Key: "127.0.0.1:9094", AdminAddr: "127.0.0.1:9094", ID: "web-4", State: pool.StateDown},  // left out
		{Key: "10.0.0.9:9090", State: pool.StateJoining},                                          // not polled yet
		{Key: "127.0.0.1:9090", AdminAddr: "127.0.0.1:9090", ID: "web-1", State: pool.StateReady}, // self, once
	}
	b, _ := json.Marshal(Targets("web-1", "127.0.0.1:9090", members))
	want := `[{"targets":["127.0.0.1:9090"],"labels":{"mitosis_replica":"web-1"}},` +
		`{"targets":["10.0.0.9:9090"],"labels":{"mitosis_replica":"10.0.0.9:9090"}},` +
		`{"targets":["127.0.0.1:9092"],"labels":{"mitosis_replica":"web-2"}},` +
		`{"targets":["127.0.0.1:9093"],"labels":{"mitosis_replica":"web-3"}}]`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestSelfTarget(t *testing.T) {
	for _, tc := range []struct{ bound, host, want string }{
		{"127.0.0.1:9090", "localhost:9090", "127.0.0.1:9090"},
		{"[::]:9090", "10.0.1.5:9090", "10.0.1.5:9090"},
		{"0.0.0.0:9090", "web.internal", "web.internal:9090"},
		{":9090", "", "127.0.0.1:9090"},
		{"[::]:9090", "[fd00::5]:9090", "[fd00::5]:9090"},
	} {
		if got := selfTarget(tc.bound, tc.host); got != tc.want {
			t.Errorf("selfTarget(%q, %q) = %q, want %q", tc.bound, tc.host, got, tc.want)
		}
	}
}
