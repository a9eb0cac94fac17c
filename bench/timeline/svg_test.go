package main

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestRenderIsWellFormedSVG(t *testing.T) {
	csvText := "t_s,concurrency,running,p95_ms\n0,5,1,101\n1,60,1,\n2,60,3,250\n3,0,3,100\n"
	s, err := readSeries(strings.NewReader(csvText))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := readEvents(strings.NewReader("t_s,label\n1,load step <5→60>\n2.5,first new replica\n"))
	if err != nil {
		t.Fatal(err)
	}
	panels, err := parsePanels("load=concurrency;replicas=running;p95=p95_ms")
	if err != nil {
		t.Fatal(err)
	}
	svg, err := Render("test & title", s, panels, ev)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(svg))
	polylines, lines := 0, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "polyline":
				polylines++
			case "line":
				lines++
			}
		}
	}
	// p95 has a gap at t=1: two polylines; the others one each.
	if polylines != 4 {
		t.Errorf("got %d polylines, want 4 (one per series, the gap splits p95)", polylines)
	}
	if !strings.Contains(svg, "load step &lt;5→60&gt;") || !strings.Contains(svg, "test &amp; title") {
		t.Error("labels are not escaped into the picture")
	}
}

func TestInputErrors(t *testing.T) {
	tests := []struct {
		name, csv string
	}{
		{"header only", "t_s,a\n"},
		{"ragged row", "t_s,a\n1,2,3\n"},
		{"bad number", "t_s,a\n1,x\n"},
		{"bad time", "t_s,a\nx,1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := readSeries(strings.NewReader(tt.csv)); err == nil {
				t.Error("accepted bad input")
			}
		})
	}
	s, _ := readSeries(strings.NewReader("t_s,a\n0,1\n"))
	if _, err := Render("x", s, []Panel{{Title: "p", Cols: []string{"missing"}}}, nil); err == nil {
		t.Error("Render accepted a panel naming a missing column")
	}
	if _, err := parsePanels("nocols"); err == nil {
		t.Error("parsePanels accepted a panel without columns")
	}
}

func TestTicksCoverTheRange(t *testing.T) {
	for _, hi := range []float64{0.7, 3, 9.5, 60, 101, 1234} {
		tk := ticks(0, hi, 4)
		if tk[0] != 0 || tk[len(tk)-1] < hi || len(tk) > 12 {
			t.Errorf("ticks(0, %v) = %v", hi, tk)
		}
	}
}
