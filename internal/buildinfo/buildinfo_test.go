package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestFrom(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/mitosis-run/mitosis", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "a841456deadbeefcafe0123456789abcdef0123"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name     string
		bi       *debug.BuildInfo
		ok       bool
		override string
		want     string
	}{
		{"stamped build", stamped, true, "", "mitosis v0.3.0 (revision a841456deadb+dirty, go1.26.8)"},
		{"link-time version wins", stamped, true, "v1.0.0-rc1", "mitosis v1.0.0-rc1 (revision a841456deadb+dirty, go1.26.8)"},
		{"no build info", nil, false, "", "mitosis (devel) (revision unknown, unknown)"},
		{"test binary: empty main version", &debug.BuildInfo{GoVersion: "go1.26.8"}, true, "", "mitosis (devel) (revision unknown, go1.26.8)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := from(tc.bi, tc.ok, tc.override).String(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestCollector(t *testing.T) {
	info := Info{Version: "v0.3.0", Revision: "0123456789abcdef", GoVersion: "go1.26.8"}
	reg := prometheus.NewRegistry()
	reg.MustRegister(info.Collector())
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v, %v; want one series", mfs, err)
	}
	m := mfs[0].GetMetric()[0]
	got := map[string]string{}
	for _, lp := range m.GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	want := map[string]string{"version": "v0.3.0", "revision": "0123456789ab", "goversion": "go1.26.8"}
	if mfs[0].GetName() != "mitosis_build_info" || m.GetGauge().GetValue() != 1 || len(got) != len(want) {
		t.Fatalf("got %s %v = %g", mfs[0].GetName(), got, m.GetGauge().GetValue())
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestReadNamesTheToolchain(t *testing.T) {
	if got := Read(); !strings.HasPrefix(got.GoVersion, "go") {
		t.Errorf("Read().GoVersion = %q, want the toolchain (go1.x)", got.GoVersion)
	}
}
