package dashboard

import (
	"fmt"
	"testing"
	"time"

	"github.com/mitosis-run/mitosis/autoscale"
)

func dec(sec, current, desired int, result, errText string) autoscale.Decision {
	return autoscale.Decision{Time: t0.Add(time.Duration(sec) * time.Second), Current: current, Desired: desired,
		Result: result, Error: errText, Reason: fmt.Sprintf("reason at %ds", sec), Acted: result == autoscale.ResultOK}
}

func TestDecisionsFold(t *testing.T) {
	var l Decisions
	var ds []autoscale.Decision
	for s := 0; s < 37; s++ { // 37 steady ticks
		ds = append(ds, dec(s, 1, 1, autoscale.ResultNoChange, ""))
	}
	ds = append(ds,
		dec(37, 1, 4, autoscale.ResultOK, ""),                                 // scale-up
		dec(38, 1, 4, autoscale.ResultFollower, ""),                           // a follower's view, twice
		dec(39, 1, 4, autoscale.ResultFollower, ""),                           //
		dec(40, 4, 4, autoscale.ResultNoChange, ""),                           // steady again
		dec(41, 4, 4, autoscale.ResultNoStatus, "status: daemon unreachable"), // errors fold by text
		dec(42, 4, 4, autoscale.ResultNoStatus, "status: daemon unreachable"),
		dec(43, 4, 2, autoscale.ResultOK, ""), // scale-down
	)
	// Fed in overlapping batches, as the loop's History is every tick.
	l.Add(ds[:30])
	l.Add(ds[:40])
	l.Add(ds)
	got := l.Newest(100)
	type row struct {
		ticks            int
		steady           bool
		current, desired int
		result, reason   string
	}
	want := []row{
		{1, false, 4, 2, autoscale.ResultOK, "reason at 43s"},
		{2, false, 4, 4, autoscale.ResultNoStatus, "reason at 41s"},
		{1, true, 4, 4, autoscale.ResultNoChange, "reason at 40s"},
		{2, false, 1, 4, autoscale.ResultFollower, "reason at 38s"},
		{1, false, 1, 4, autoscale.ResultOK, "reason at 37s"},
		{37, true, 1, 1, autoscale.ResultNoChange, "reason at 36s"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if (row{g.Ticks, g.Steady, g.Current, g.Desired, g.Result, g.Reason}) != w {
			t.Errorf("entry %d: %+v, want %+v", i, g, w)
		}
	}
	if f := got[5]; !f.Time.Equal(t0) || !f.Last.Equal(t0.Add(36*time.Second)) {
		t.Errorf("steady fold spans %s..%s, want the first and the 37th tick", f.Time, f.Last)
	}
	if !got[0].Acted {
		t.Error("the scale-down entry lost Acted")
	}
}

func TestDecisionsBounded(t *testing.T) {
	var l Decisions
	for s := range 10 * LogSize {
		l.Add([]autoscale.Decision{dec(s, s, s+1, autoscale.ResultOK, "")}) // every one a change
	}
	got := l.Newest(1000)
	if len(got) != LogSize || got[0].Current != 10*LogSize-1 || got[LogSize-1].Current != 9*LogSize {
		t.Fatalf("%d entries from %d to %d", len(got), got[0].Current, got[len(got)-1].Current)
	}
	if n := len(l.Newest(3)); n != 3 {
		t.Errorf("Newest(3) gave %d", n)
	}
}
