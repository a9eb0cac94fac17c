package pool

import (
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxSiblingLabels bounds mitosis_sibling_up's label values.
const DefaultMaxSiblingLabels = 100

type collector struct {
	store     *Store
	maxLabels int
	members   *prometheus.Desc
	up        *prometheus.Desc
}

// NewCollector returns a collector that reads the store at scrape time:
//
//	mitosis_members{state}     members per state (all four states, zeros too)
//	mitosis_sibling_up{sibling} 1 if the sibling answered its last poll
//	                            (ready or draining), else 0
//
// The sibling label is the member ID, or its Key while the ID is unknown (or
// when two members report the same ID). At most maxLabels siblings are
// exported (the first by Key; maxLabels <= 0 means
// DefaultMaxSiblingLabels), so label cardinality stays bounded, and members
// that left the table simply vanish from the next scrape.
func NewCollector(store *Store, maxLabels int) prometheus.Collector {
	if maxLabels <= 0 {
		maxLabels = DefaultMaxSiblingLabels
	}
	return &collector{
		store:     store,
		maxLabels: maxLabels,
		members: prometheus.NewDesc("mitosis_members",
			"Siblings in the table by state.", []string{"state"}, nil),
		up: prometheus.NewDesc("mitosis_sibling_up",
			"1 if the sibling answered its last state poll (ready or draining).", []string{"sibling"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.members
	ch <- c.up
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	list := c.store.List()
	counts := map[MemberState]int{StateJoining: 0, StateReady: 0, StateDraining: 0, StateDown: 0}
	for _, m := range list {
		counts[m.State]++
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(n), string(st))
	}
	used := make(map[string]bool, min(len(list), c.maxLabels))
	for i, m := range list {
		if i >= c.maxLabels {
			break
		}
		label := m.ID
		if label == "" || used[label] {
			label = m.Key
		}
		used[label] = true
		up := 0.0
		if m.State == StateReady || m.State == StateDraining {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, label)
	}
}
