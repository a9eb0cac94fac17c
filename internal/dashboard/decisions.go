package dashboard

import (
	"sync"
	"time"

	"github.com/mitosis-run/mitosis/autoscale"
)

// LogSize is how many entries Decisions keeps. Steady ticks fold, so 100
// entries span hours of a calm tier and every change of a busy one over
// the chart's 15 minutes.
const LogSize = 100

// Entry is one line of the decision log: one decision, or several
// consecutive ticks folded into one.
type Entry struct {
	// Time is the first folded tick, Last the newest.
	Time time.Time `json:"time"`
	Last time.Time `json:"last"`
	// Ticks is how many decisions the entry folds (1: a single one).
	Ticks int `json:"ticks"`
	// Steady: desired was current and nothing failed, on every folded tick.
	Steady  bool `json:"steady"`
	Current int  `json:"current"`
	Desired int  `json:"desired"`
	Running int  `json:"running"`
	// Reason is the first folded tick's: the reason a change was decided.
	Reason string `json:"reason"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	Panic  bool   `json:"panic"`
	Acted  bool   `json:"acted"`
	Leader bool   `json:"leader"`
}

// Decisions is a bounded log of decisions in which runs of steady ticks
// fold into one entry, and so do repeats of one change (a follower sees
// the same desired ≠ current until the platform's count catches up) or
// of one error.
type Decisions struct {
	mu    sync.Mutex
	ring  [LogSize]Entry
	n     int       // entries ever added
	since time.Time // newest decision time taken
}

// Add takes the decisions newer than the last one taken (e.g. all of the
// autoscale loop's History, oldest first, every tick) and folds them in.
func (l *Decisions) Add(ds []autoscale.Decision) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range ds {
		if !d.Time.After(l.since) {
			continue
		}
		l.since = d.Time
		l.add(d)
	}
}

func (l *Decisions) add(d autoscale.Decision) {
	steady := d.Desired == d.Current && d.Error == ""
	if l.n > 0 {
		last := &l.ring[(l.n-1)%LogSize]
		same := last.Steady == steady && (steady ||
			last.Current == d.Current && last.Desired == d.Desired && last.Result == d.Result && last.Error == d.Error)
		if same {
			last.Ticks++
			last.Last = d.Time
			last.Running = d.Running
			last.Panic = last.Panic || d.Panic
			last.Acted = last.Acted || d.Acted
			if steady {
				last.Current, last.Desired, last.Reason = d.Current, d.Desired, d.Reason
			}
			return
		}
	}
	l.ring[l.n%LogSize] = Entry{
		Time: d.Time, Last: d.Time, Ticks: 1, Steady: steady,
		Current: d.Current, Desired: d.Desired, Running: d.Running,
		Reason: d.Reason, Result: d.Result, Error: d.Error,
		Panic: d.Panic, Acted: d.Acted, Leader: d.Leader,
	}
	l.n++
}

// Newest returns up to max entries, newest first.
func (l *Decisions) Newest(limit int) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := min(l.n, LogSize, max(limit, 0))
	out := make([]Entry, 0, k)
	for i := l.n - 1; i >= l.n-k; i-- {
		out = append(out, l.ring[i%LogSize])
	}
	return out
}
