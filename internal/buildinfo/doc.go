// Package buildinfo says which build of mitosis runs: its version, the VCS
// revision it was built from and the Go version, read from the binary's
// embedded build information (runtime/debug.ReadBuildInfo). Release builds
// set the version with
//
//	go build -ldflags "-X github.com/mitosis-run/mitosis/internal/buildinfo.version=v1.2.3"
//
// It exports them as the mitosis_build_info gauge and prints them for
// `mitosis --version`. It must not read anything else at run time.
package buildinfo
