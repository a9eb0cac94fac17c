//go:build !unix

package h1

// fileLimit: no RLIMIT_NOFILE to read here.
func fileLimit() (uint64, bool) { return 0, false }
