package autoscale

import (
	"strings"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/spawner"
)

const portMsg = "no suitable node (host-mode port already in use on 1 node)"

// placer is a platform that can run at most fits replicas; the rest of
// what it is asked for stays pending with a port explanation.
type placer struct {
	fits      int
	placement string
	reason    string
}

func (pl placer) report(desired int) Platform {
	run := min(desired, pl.fits)
	p := Platform{Status: spawner.Status{Desired: desired, Running: run, Pending: desired - run, Placement: pl.placement}}
	if p.Pending > 0 {
		p.PendingReason, p.PendingMessage = pl.reason, portMsg
		if p.PendingReason == "" {
			p.PendingReason = spawner.PendingPort
		}
	}
	return p
}

// placeWalk ticks a decider against the placer at concurrency c; the
// placer may change between ticks through edit (tick index, placer).
func placeWalk(cfg Config, cur int, c float64, ticks int, pl *placer, edit func(i int, pl *placer)) []Decision {
	d := NewDecider(cfg)
	d.Record(Sample{Time: t0.Add(-time.Hour)}) // warm
	now := t0
	out := make([]Decision, ticks)
	for i := range out {
		if edit != nil {
			edit(i, pl)
		}
		now = now.Add(cfg.Tick)
		d.Record(Sample{Time: now, Concurrency: c, Ready: min(cur, pl.fits)})
		out[i] = d.Decide(now, pl.report(cur))
		cur = out[i].Desired
	}
	return out
}

func TestDecidePlacement(t *testing.T) {
	retry := placementRetryTicks // ticks until a probe
	tests := []struct {
		name  string
		edit  func(*Config)
		fits  int
		place string
		ticks int
		// changes the placer at tick i
		change func(i int, pl *placer)
		// want[i] = desired at tick i, for the ticks listed
		want map[int]int
		// the most desired ever after the first pending was seen
		most int
	}{
		{
			// One node, a host port: the load wants 10, one fits. The cap
			// is learned at the first pending and held; each probe (one
			// more) pends and re-learns it.
			name: "host port on one node", fits: 1, place: "1:n1", ticks: 3 * retry,
			want: map[int]int{0: 10, 1: 1, 2: 1, retry: 1, retry + 1: 2, retry + 2: 1, 2*retry + 2: 2, 2*retry + 3: 1},
			most: 2,
		},
		{
			// A second node joins: the placement changes, the cap is
			// lifted, the desire is tried again and the new cap is 2.
			name: "a node joins", fits: 1, place: "1:n1", ticks: 20,
			change: func(i int, pl *placer) {
				if i == 10 {
					pl.fits, pl.placement = 2, "2:n1,n2"
				}
			},
			want: map[int]int{1: 1, 9: 1, 10: 10, 11: 2, 19: 2},
			most: 10,
		},
		{
			// No placement fingerprint (the docker driver): the probe is
			// the only way back, and when it runs the cap is lifted.
			name: "engine accepts again", fits: 2, place: "", ticks: retry + 6,
			change: func(i int, pl *placer) {
				if i == 5 {
					pl.fits = 100
				}
			},
			want: map[int]int{1: 2, retry: 2, retry + 1: 3, retry + 2: 10},
			most: 10,
		},
		{
			// The minimum wins over the cap: desired stays at min, never
			// climbs.
			name: "min above what fits", edit: func(c *Config) { c.MinReplicas = 2 }, fits: 1, place: "1:n1", ticks: 20,
			want: map[int]int{0: 10, 1: 2, 19: 2},
			most: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := instant()
			cfg.MaxReplicas = 10
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			pl := &placer{fits: tt.fits, placement: tt.place}
			ds := placeWalk(cfg, 1, 70, tt.ticks, pl, tt.change) // 70 / 7 = 10 wanted
			for i, want := range tt.want {
				if ds[i].Desired != want {
					t.Errorf("tick %d: desired %d (%s), want %d", i, ds[i].Desired, ds[i].Reason, want)
				}
			}
			seen := false
			for i, d := range ds {
				if d.Pending > 0 {
					seen = true
					if !strings.Contains(d.Reason, "pending: ") || !strings.Contains(d.Reason, portMsg) {
						t.Errorf("tick %d: %d pending, reason %q does not say so", i, d.Pending, d.Reason)
					}
					if d.Cap == 0 {
						t.Errorf("tick %d: %d pending but no cap", i, d.Pending)
					}
				}
				if seen && i > 0 && d.Desired > tt.most {
					t.Errorf("tick %d: desired %d ran away past %d (%s)", i, d.Desired, tt.most, d.Reason)
				}
			}
			if !seen {
				t.Fatal("no pending replica seen")
			}
		})
	}
}

// Removing what cannot be placed is not capacity going away: the
// scale-down delay, the step-down rate, panic and warm-up do not hold it.
func TestDecidePlacementCapIgnoresScaleDownHolds(t *testing.T) {
	cfg := DefaultConfig() // 60 s delay, halving per tick, warm-up
	d := NewDecider(cfg)
	now := t0
	for range 3 { // a burst: panic
		now = now.Add(cfg.Tick)
		d.Record(Sample{Time: now, Concurrency: 200, Ready: 1})
	}
	dec := d.Decide(now, placer{fits: 1, placement: "1:n1"}.report(10))
	if dec.Desired != 1 || !dec.Panic {
		t.Fatalf("desired %d panic %t (%s), want 1 while panicking", dec.Desired, dec.Panic, dec.Reason)
	}
}

// A tick whose Status failed neither learns nor lifts a cap.
func TestDecidePlacementUnknownStatus(t *testing.T) {
	cfg := instant()
	cfg.MaxReplicas = 10
	d := NewDecider(cfg)
	now := t0.Add(cfg.Tick)
	d.Record(Sample{Time: now, Concurrency: 70, Ready: 1})
	if dec := d.Decide(now, placer{fits: 1, placement: "1:n1"}.report(10)); dec.Desired != 1 {
		t.Fatalf("desired %d (%s), want the cap 1", dec.Desired, dec.Reason)
	}
	for i := range 5 {
		now = now.Add(cfg.Tick)
		d.Record(Sample{Time: now, Concurrency: 70, Ready: 1})
		dec := d.Decide(now, Platform{Status: spawner.Status{Desired: 1}, Unknown: true})
		if dec.Desired != 1 || dec.Cap != 1 {
			t.Fatalf("unknown status %d: desired %d cap %d (%s), want the cap kept", i, dec.Desired, dec.Cap, dec.Reason)
		}
	}
}
