//go:build race

package h1

// raceEnabled: under the race detector sync.Pool drops a share of what it
// is given on purpose, so allocation counts that rely on pools do not hold.
const raceEnabled = true
