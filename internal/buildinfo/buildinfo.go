package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// version overrides the module version; set at link time with -ldflags -X
// (see the package doc). It is the one package-level variable of this
// package, and nothing writes it at run time.
var version string

// Info describes one build.
type Info struct {
	// Version is the -X override, else the main module's version as the Go
	// tool stamped it ("v1.2.3", a pseudo-version, or "(devel)").
	Version string
	// Revision is the VCS commit the binary was built from, "" if unknown;
	// Modified reports uncommitted changes in that checkout.
	Revision string
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Read returns this binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	return from(bi, ok, version)
}

// from builds the Info of bi (ok: bi was available) with the link-time
// override.
func from(bi *debug.BuildInfo, ok bool, override string) Info {
	info := Info{Version: "(devel)", GoVersion: "unknown"}
	if ok && bi != nil {
		info.GoVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" {
			info.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if override != "" {
		info.Version = override
	}
	return info
}

// ShortRevision is the first 12 characters of Revision, with "+dirty"
// when Modified; "unknown" without a revision.
func (i Info) ShortRevision() string {
	r := i.Revision
	if r == "" {
		return "unknown"
	}
	if len(r) > 12 {
		r = r[:12]
	}
	if i.Modified {
		r += "+dirty"
	}
	return r
}

// String is the line `mitosis --version` prints.
func (i Info) String() string {
	return fmt.Sprintf("mitosis %s (revision %s, %s)", i.Version, i.ShortRevision(), i.GoVersion)
}

// Collector returns the constant gauge
//
//	mitosis_build_info{version, revision, goversion} 1
//
// so dashboards can show which build each replica runs (and join it to
// other series with `* on(instance) group_left(version)`).
func (i Info) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mitosis_build_info",
		Help: "Always 1; the labels name the build of mitosis this replica runs.",
		ConstLabels: prometheus.Labels{
			"version":   i.Version,
			"revision":  i.ShortRevision(),
			"goversion": strings.TrimSpace(i.GoVersion),
		},
	})
	g.Set(1)
	return g
}
