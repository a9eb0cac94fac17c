package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// drawReaction writes the reaction run as CSV (<out>/reaction.csv and
// reaction-events.csv), draws it with bench/timeline into
// <out>/reaction.svg, copies the picture to -svg and returns its path
// relative to the markdown report.
func (r *runner) drawReaction(ctx context.Context, x *reactionResult) (string, error) {
	rel := func(t time.Time) float64 { return t.Sub(x.start).Seconds() }
	var b strings.Builder
	b.WriteString("t_s,concurrency,running,desired,ready,p95_ms,errors,rps\n")
	for _, row := range x.rows {
		p95 := "" // no answer in the window: a gap, not a zero latency
		if row.rps > 0 {
			p95 = fmt.Sprintf("%.1f", row.p95ms)
		}
		fmt.Fprintf(&b, "%.2f,%d,%d,%d,%d,%s,%.0f,%.0f\n", rel(row.t), row.level, row.running, row.desired, row.ready, p95, row.errors, row.rps)
	}
	csvPath := filepath.Join(r.o.out, "reaction.csv")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o644); err != nil {
		return "", err
	}
	type ev struct {
		t     time.Time
		label string
	}
	evs := []ev{
		{x.step, fmt.Sprintf("load step %d → %d clients", r.o.reactionFrom, r.o.reactionTo)},
		{x.upDecision, fmt.Sprintf("first scale-up decision (desired %d)", x.upDesired)},
		{x.firstRunning, "first new replica running"},
		{x.firstReady, "first new replica ready (sibling table)"},
		{x.firstServed, "first response from a new replica"},
		{x.stop, "load stopped"},
		{x.downDecision, fmt.Sprintf("first scale-down decision (desired %d)", x.downDesired)},
		{x.backToMin, fmt.Sprintf("back to %d replica(s)", x.minRep)},
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].t.Before(evs[j].t) })
	var e strings.Builder
	w := csv.NewWriter(&e)
	_ = w.Write([]string{"t_s", "label"})
	for _, v := range evs {
		if !v.t.IsZero() {
			_ = w.Write([]string{fmt.Sprintf("%.2f", rel(v.t)), v.label})
		}
	}
	w.Flush()
	evPath := filepath.Join(r.o.out, "reaction-events.csv")
	if err := os.WriteFile(evPath, []byte(e.String()), 0o644); err != nil {
		return "", err
	}
	svgPath := filepath.Join(r.o.out, "reaction.svg")
	out, err := exec.CommandContext(ctx, r.bin("timeline"), "-csv", csvPath, "-events", evPath, "-o", svgPath,
		"-panels", "offered load (concurrent clients)=concurrency;replicas=running,desired,ready;p95 latency, trailing 1 s (ms)=p95_ms;errors per second=errors").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("timeline: %w\n%s", err, out)
	}
	dst := svgPath
	if r.o.svgCopy != "" {
		data, err := os.ReadFile(svgPath)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(r.o.svgCopy, data, 0o644); err != nil {
			return "", err
		}
		dst = r.o.svgCopy
	}
	absDst, err1 := filepath.Abs(dst)
	absMD, err2 := filepath.Abs(filepath.Dir(r.o.md))
	if err1 != nil || err2 != nil {
		return dst, nil
	}
	if p, err := filepath.Rel(absMD, absDst); err == nil {
		return filepath.ToSlash(p), nil
	}
	return dst, nil
}

func sortStrings(s []string) { sort.Strings(s) }
