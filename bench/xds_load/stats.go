package main

import (
	"sort"
	"time"
)

// summary holds nearest-rank percentiles of a set of durations, in ms.
type summary struct {
	count         int
	p50, p99, max float64
}

func summarize(ds []time.Duration) summary {
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	sort.Float64s(ms)
	s := summary{count: len(ms)}
	if len(ms) > 0 {
		s.p50 = percentile(ms, 50)
		s.p99 = percentile(ms, 99)
		s.max = ms[len(ms)-1]
	}
	return s
}

// percentile is the nearest-rank percentile of sorted values: the smallest
// value such that at least p percent of the values are less or equal.
func percentile(sorted []float64, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	// Integer arithmetic: 0.99*100 in floating point rounds up to rank 100.
	rank := (p*len(sorted) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}
