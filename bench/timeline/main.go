// Command timeline draws the reaction run of the benchmark harness as one
// SVG picture: stacked panels sharing the time axis (offered load, replicas,
// p95 latency, errors), with the run's events as vertical markers. Plain Go
// and text/template-free string building: no dependencies.
//
// Input is a CSV with a header row; the first column is the time in
// seconds, every other column is one series (empty cells are gaps). Events
// are a second CSV of "t_s,label" rows.
//
//	timeline -csv out/reaction.csv -events out/reaction-events.csv -o out/reaction.svg
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("csv", "bench/out/reaction.csv", "time series CSV (t_s first, one column per series)")
	ev := flag.String("events", "", "events CSV (t_s,label); optional")
	out := flag.String("o", "bench/out/reaction.svg", "SVG file to write")
	title := flag.String("title", "mitosis reaction to a load step (process driver, default scaling settings)", "picture title")
	panels := flag.String("panels", "offered concurrency=concurrency;replicas=running,desired,ready;p95 latency (ms)=p95_ms;errors per second=errors", "panels: title=col,col;title=col...")
	flag.Parse()
	if err := run(*in, *ev, *out, *title, *panels); err != nil {
		fmt.Fprintln(os.Stderr, "timeline:", err)
		os.Exit(1)
	}
}

func run(in, ev, out, title, panelSpec string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	series, err := readSeries(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	var events []Event
	if ev != "" {
		g, err := os.Open(ev)
		if err != nil {
			return err
		}
		defer g.Close()
		if events, err = readEvents(g); err != nil {
			return fmt.Errorf("%s: %w", ev, err)
		}
	}
	panels, err := parsePanels(panelSpec)
	if err != nil {
		return err
	}
	svg, err := Render(title, series, panels, events)
	if err != nil {
		return err
	}
	return os.WriteFile(out, []byte(svg), 0o644)
}

// Series is the parsed CSV: T holds the times, Cols every other column by
// header name (NaN marks an empty cell).
type Series struct {
	T    []float64
	Cols map[string][]float64
}

// Event is a labelled instant.
type Event struct {
	T     float64
	Label string
}

// Panel is one stacked chart: a title and the columns drawn in it.
type Panel struct {
	Title string
	Cols  []string
}

func readSeries(r io.Reader) (Series, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return Series{}, err
	}
	if len(rows) < 2 {
		return Series{}, fmt.Errorf("need a header and at least one row, got %d rows", len(rows))
	}
	head := rows[0]
	s := Series{Cols: map[string][]float64{}}
	for i, row := range rows[1:] {
		if len(row) != len(head) {
			return Series{}, fmt.Errorf("row %d has %d cells, header has %d", i+2, len(row), len(head))
		}
		t, err := strconv.ParseFloat(row[0], 64)
		if err != nil {
			return Series{}, fmt.Errorf("row %d: time %q: %w", i+2, row[0], err)
		}
		s.T = append(s.T, t)
		for j := 1; j < len(head); j++ {
			v := math.NaN()
			if row[j] != "" {
				if v, err = strconv.ParseFloat(row[j], 64); err != nil {
					return Series{}, fmt.Errorf("row %d, %s: %q: %w", i+2, head[j], row[j], err)
				}
			}
			s.Cols[head[j]] = append(s.Cols[head[j]], v)
		}
	}
	return s, nil
}

func readEvents(r io.Reader) ([]Event, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	var ev []Event
	for i, row := range rows {
		if len(row) != 2 {
			return nil, fmt.Errorf("event row %d: want t_s,label", i+1)
		}
		t, err := strconv.ParseFloat(row[0], 64)
		if err != nil {
			if i == 0 { // header
				continue
			}
			return nil, fmt.Errorf("event row %d: time %q: %w", i+1, row[0], err)
		}
		ev = append(ev, Event{T: t, Label: row[1]})
	}
	return ev, nil
}

func parsePanels(spec string) ([]Panel, error) {
	var ps []Panel
	for _, part := range strings.Split(spec, ";") {
		title, cols, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(cols) == "" {
			return nil, fmt.Errorf("-panels: %q must be title=col[,col...]", part)
		}
		ps = append(ps, Panel{Title: strings.TrimSpace(title), Cols: strings.Split(cols, ",")})
	}
	return ps, nil
}
