package main

import (
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	ten := hundred[:10]
	cases := []struct {
		name   string
		values []float64
		p      int
		want   float64
	}{
		{"p50 of 1..100", hundred, 50, 50},
		{"p99 of 1..100", hundred, 99, 99},
		{"p100 of 1..100", hundred, 100, 100},
		{"p50 of 1..10", ten, 50, 5},
		{"p99 of 1..10", ten, 99, 10},
		{"p1 of 1..10", ten, 1, 1},
		{"p0 is the minimum", ten, 0, 1},
		{"single value", []float64{7}, 99, 7},
		{"empty", nil, 50, 0},
	}
	for _, c := range cases {
		if got := percentile(c.values, c.p); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSummarizeSortsAndConvertsToMilliseconds(t *testing.T) {
	s := summarize([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond})
	if s.count != 3 || s.p50 != 2 || s.p99 != 3 || s.max != 3 {
		t.Fatalf("got %+v", s)
	}
}
