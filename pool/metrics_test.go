package pool

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// gather scrapes c through a pedantic registry (which also checks the
// collector's descriptions and label consistency) and returns
// "name{label=value}" → value.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf("{%s=%s}", l.GetName(), l.GetValue())
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestCollector(t *testing.T) {
	s := NewStore()
	s.Upsert(Member{Key: "10.0.0.1:9090", ID: "r1", State: StateReady})
	s.Upsert(Member{Key: "10.0.0.2:9090", ID: "r1", State: StateDraining}) // duplicate ID → key label
	s.Upsert(Member{Key: "10.0.0.3:9090", State: StateJoining})
	s.Upsert(Member{Key: "10.0.0.4:9090", ID: "r4", State: StateDown})
	c := NewCollector(s, 0)

	want := map[string]float64{
		"mitosis_members{state=down}":               1,
		"mitosis_members{state=draining}":           1,
		"mitosis_members{state=joining}":            1,
		"mitosis_members{state=ready}":              1,
		"mitosis_sibling_up{sibling=r1}":            1,
		"mitosis_sibling_up{sibling=10.0.0.2:9090}": 1,
		"mitosis_sibling_up{sibling=10.0.0.3:9090}": 0,
		"mitosis_sibling_up{sibling=r4}":            0,
	}
	if got := gather(t, c); !maps.Equal(got, want) {
		t.Fatalf("scrape = %v\nwant %v", got, want)
	}

	// Departed members vanish from the next scrape.
	s.Delete("10.0.0.4:9090")
	got := gather(t, c)
	if _, ok := got["mitosis_sibling_up{sibling=r4}"]; ok || got["mitosis_members{state=down}"] != 0 {
		t.Fatalf("departed member still exported: %v", got)
	}
}

func TestCollectorBoundsLabels(t *testing.T) {
	s := NewStore()
	for i := range 150 {
		s.Upsert(Member{Key: fmt.Sprintf("m%03d:9090", i), State: StateReady})
	}
	count := func(got map[string]float64) int {
		n := 0
		for k := range got {
			if len(k) > len("mitosis_sibling_up") && k[:len("mitosis_sibling_up")] == "mitosis_sibling_up" {
				n++
			}
		}
		return n
	}
	if got := gather(t, NewCollector(s, 0)); count(got) != DefaultMaxSiblingLabels || got["mitosis_members{state=ready}"] != 150 {
		t.Fatalf("%d sibling series (want %d), ready = %v (want 150)",
			count(got), DefaultMaxSiblingLabels, got["mitosis_members{state=ready}"])
	}
	got := gather(t, NewCollector(s, 10))
	if count(got) != 10 {
		t.Fatalf("%d sibling series, want 10: %v", count(got), slices.Sorted(maps.Keys(got)))
	}
}
