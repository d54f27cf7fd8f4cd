package main

import (
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value such that at least p % of the
// values are less than or equal to it. It returns 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	rank := int(math.Ceil(p/100*float64(n) - 1e-9)) // the epsilon absorbs 99.9/100*1000 = 999.0000000000001
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// sortDurations sorts d in place and returns it.
func sortDurations(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}

// median returns the median of v (the mean of the two middle values for an
// even count), ignoring NaNs; NaN if there is nothing left.
func median(v []float64) float64 {
	s := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// sum returns the sum of v, ignoring NaNs; NaN if all are NaN or v is empty.
func sum(v []float64) float64 {
	t, n := 0.0, 0
	for _, x := range v {
		if !math.IsNaN(x) {
			t += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return t
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
