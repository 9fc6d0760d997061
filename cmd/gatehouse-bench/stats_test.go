package main

import (
	"slices"
	"testing"
	"time"
)

func ms(n ...int) []time.Duration {
	out := make([]time.Duration, len(n))
	for i, v := range n {
		out[i] = time.Duration(v) * time.Millisecond
	}
	return out
}

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"single p50", ms(7), 50, 7 * time.Millisecond},
		{"single p99", ms(7), 99, 7 * time.Millisecond},
		{"two p50", ms(1, 2), 50, 1 * time.Millisecond},
		{"two p51", ms(1, 2), 51, 2 * time.Millisecond},
		{"ten p50", seq(10), 50, 5 * time.Millisecond},
		{"ten p90", seq(10), 90, 9 * time.Millisecond},
		{"ten p99", seq(10), 99, 10 * time.Millisecond},
		{"hundred p50", seq(100), 50, 50 * time.Millisecond},
		{"hundred p90", seq(100), 90, 90 * time.Millisecond},
		{"hundred p99", seq(100), 99, 99 * time.Millisecond},
		{"hundred p100", seq(100), 100, 100 * time.Millisecond},
		{"thousand p99", seq(1000), 99, 990 * time.Millisecond},
		{"thousand p99.9", seq(1000), 99.9, 999 * time.Millisecond},
		{"p0 clamps to min", seq(10), 0, 1 * time.Millisecond},
		{"p above 100 clamps to max", seq(10), 150, 10 * time.Millisecond},
		{"ties", ms(1, 1, 1, 5, 5), 60, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%d samples, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		want    summary
	}{
		{"empty", nil, summary{}},
		{"single", ms(3), summary{N: 1, Min: 3 * time.Millisecond, Mean: 3 * time.Millisecond, P50: 3 * time.Millisecond, P90: 3 * time.Millisecond, P99: 3 * time.Millisecond, Max: 3 * time.Millisecond}},
		{"unsorted", ms(9, 1, 5, 3, 7), summary{N: 5, Min: 1 * time.Millisecond, Mean: 5 * time.Millisecond, P50: 5 * time.Millisecond, P90: 9 * time.Millisecond, P99: 9 * time.Millisecond, Max: 9 * time.Millisecond}},
		{"reversed hundred", func() []time.Duration { s := seq(100); slices.Reverse(s); return s }(),
			summary{N: 100, Min: time.Millisecond, Mean: 50500 * time.Microsecond, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}},
		{"outlier", append(ms(1, 1, 1, 1, 1, 1, 1, 1, 1), time.Second), summary{N: 10, Min: time.Millisecond, Mean: 100900 * time.Microsecond, P50: time.Millisecond, P90: time.Millisecond, P99: time.Second, Max: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(tt.samples); got != tt.want {
				t.Errorf("summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMergeWorkers(t *testing.T) {
	t0 := time.Now()
	a := newWorkerStats(4)
	a.ok(3 * time.Millisecond)
	a.ok(1 * time.Millisecond)
	a.fail("grpc Unavailable", "later", t0.Add(time.Second))
	b := newWorkerStats(4)
	b.ok(2 * time.Millisecond)
	b.fail("http 500", "earliest", t0)
	b.fail("http 500", "second of b", t0.Add(2*time.Second))
	c := newWorkerStats(0) // no calls at all

	m := mergeWorkers([]*workerStats{a, b, c})
	if m.ok != 3 || m.errors != 3 {
		t.Fatalf("ok=%d errors=%d, want 3 and 3", m.ok, m.errors)
	}
	if m.latency.P50 != 2*time.Millisecond || m.latency.Max != 3*time.Millisecond {
		t.Errorf("latency = %+v", m.latency)
	}
	if m.firstError != "earliest" {
		t.Errorf("firstError = %q, want the earliest in time", m.firstError)
	}
	if got, want := sortedKinds(m.byKind), []string{"http 500", "grpc Unavailable"}; !slices.Equal(got, want) {
		t.Errorf("sortedKinds = %v, want %v", got, want)
	}
}

func TestSortedKinds(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]int64
		want []string
	}{
		{"empty", nil, []string{}},
		{"by count", map[string]int64{"a": 1, "b": 3, "c": 2}, []string{"b", "c", "a"}},
		{"ties by name", map[string]int64{"z": 2, "y": 2, "x": 5}, []string{"x", "y", "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sortedKinds(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("sortedKinds = %v, want %v", got, tt.want)
			}
		})
	}
}
