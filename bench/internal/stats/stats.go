// Package stats holds the few order statistics the benchmark programs
// share. Functions are pure and safe for concurrent use; none keeps state.
package stats

import (
	"math"
	"sort"
)

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order; 0 for an empty slice. Nearest
// rank (no interpolation): the result is always an observed value, and
// p99.9 of 1,000 samples is the 999th.
func Percentile[T ~int64 | ~float64](sorted []T, p float64) T {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps 99.9/100×1000 (999.0000000000001 in floating
	// point) at rank 999.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// Median returns the median of xs (the mean of the two middle values for an
// even count), NaN for none. xs is not modified.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
