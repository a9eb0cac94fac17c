package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Geometry of the picture, in SVG user units (pixels).
const (
	width      = 960
	panelH     = 150
	panelGap   = 40
	marginL    = 70
	marginR    = 150 // room for the legend
	marginTop  = 96
	marginBot  = 45
	plotW      = width - marginL - marginR
	eventLabel = 11
)

// palette colours the columns of a panel in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

// Render draws the panels over the shared time axis of s and returns the
// SVG document. A column named in a panel but missing from s is an error.
func Render(title string, s Series, panels []Panel, events []Event) (string, error) {
	if len(s.T) == 0 {
		return "", fmt.Errorf("no samples")
	}
	for _, p := range panels {
		for _, c := range p.Cols {
			if _, ok := s.Cols[c]; !ok {
				return "", fmt.Errorf("panel %q: no column %q in the CSV", p.Title, c)
			}
		}
	}
	t0, t1 := s.T[0], s.T[len(s.T)-1]
	if t1 <= t0 {
		t1 = t0 + 1
	}
	x := func(t float64) float64 { return marginL + (t-t0)/(t1-t0)*plotW }
	height := marginTop + len(panels)*(panelH+panelGap) - panelGap + marginBot + 16*len(events)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", marginL, html.EscapeString(title))
	for i, p := range panels {
		top := float64(marginTop + i*(panelH+panelGap))
		drawPanel(&b, s, p, top, x)
	}
	bottom := float64(marginTop + len(panels)*(panelH+panelGap) - panelGap)
	// Time axis under the last panel.
	for _, t := range ticks(0, t1-t0, 10) {
		if t > t1-t0 {
			break // ticks rounds up past the last sample; the axis ends there
		}
		px := x(t0 + t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999"/>`+"\n", px, bottom, px, bottom+5)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px, bottom+18, fmtNum(t))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">time since start (s)</text>`+"\n", marginL+plotW/2.0, bottom+36)
	// Events: a dashed vertical through every panel, numbered at the top
	// (staggered, since events often come seconds apart) and explained in
	// a list under the time axis.
	for i, e := range events {
		ly := bottom + marginBot + float64(i)*16
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="%d">%s</text>`+"\n", marginL, ly, eventLabel,
			html.EscapeString(fmt.Sprintf("(%d) t=%ss %s", i+1, fmtNum(math.Round((e.T-t0)*10)/10), e.Label)))
		if e.T < t0 || e.T > t1 {
			continue
		}
		px := x(e.T)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#555" stroke-dasharray="4,3"/>`+"\n", px, marginTop, px, bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="%d" fill="#333">(%d)</text>`+"\n", px+2, 40+12*(i%3), eventLabel, i+1)
	}
	b.WriteString("</svg>\n")
	return b.String(), nil
}

func drawPanel(b *strings.Builder, s Series, p Panel, top float64, x func(float64) float64) {
	maxV := 0.0
	for _, c := range p.Cols {
		for _, v := range s.Cols[c] {
			if !math.IsNaN(v) && v > maxV {
				maxV = v
			}
		}
	}
	yTicks := ticks(0, maxV, 4)
	yMax := yTicks[len(yTicks)-1]
	if yMax <= 0 {
		yMax = 1
	}
	y := func(v float64) float64 { return top + panelH - v/yMax*panelH }
	fmt.Fprintf(b, `<text x="%d" y="%.1f" font-weight="bold">%s</text>`+"\n", marginL, top-6, html.EscapeString(p.Title))
	fmt.Fprintf(b, `<rect x="%d" y="%.1f" width="%d" height="%d" fill="none" stroke="#bbb"/>`+"\n", marginL, top, plotW, panelH)
	for _, v := range yTicks {
		py := y(v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", marginL, py, marginL+plotW, py)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", marginL-6, py+4, fmtNum(v))
	}
	for k, c := range p.Cols {
		col := palette[k%len(palette)]
		var pts []string
		flush := func() {
			if len(pts) > 0 {
				fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.6"%s points="%s"/>`+"\n", col, dash(k), strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for i, v := range s.Cols[c] {
			if math.IsNaN(v) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.T[i]), y(v)))
		}
		flush()
		ly := top + 14 + float64(k)*16
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", marginL+plotW+10, ly-4, marginL+plotW+28, ly-4, col, dash(k))
		fmt.Fprintf(b, `<text x="%d" y="%.1f">%s</text>`+"\n", marginL+plotW+32, ly, html.EscapeString(c))
	}
}

// dash draws the second and later series of a panel dashed, so that
// series that coincide (desired = running) stay visible.
func dash(k int) string {
	switch k {
	case 0:
		return ""
	case 1:
		return ` stroke-dasharray="6,3"`
	default:
		return ` stroke-dasharray="2,3"`
	}
}

// ticks returns about n round values from lo up to at least hi (1, 2 or 5
// times a power of ten apart).
func ticks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		return []float64{lo, lo + 1}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := lo; ; v += step {
		out = append(out, v)
		if v >= hi || len(out) > 100 {
			break
		}
	}
	return out
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
