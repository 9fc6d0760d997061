package main

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"time"
)

// summary describes a latency distribution.
type summary struct {
	N    int
	Min  time.Duration
	Mean time.Duration
	P50  time.Duration
	P90  time.Duration
	P99  time.Duration
	Max  time.Duration
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of an
// ascending slice: the smallest sample with at least p% of the samples at or
// below it. It returns 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The epsilon keeps float error (99.9/100*1000 = 999.0000000000001)
	// from pushing the rank one sample up.
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// summarize sorts samples in place and describes them.
func summarize(samples []time.Duration) summary {
	if len(samples) == 0 {
		return summary{}
	}
	slices.Sort(samples)
	var total float64
	for _, s := range samples {
		total += float64(s)
	}
	return summary{
		N:    len(samples),
		Min:  samples[0],
		Mean: time.Duration(total / float64(len(samples))),
		P50:  percentile(samples, 50),
		P90:  percentile(samples, 90),
		P99:  percentile(samples, 99),
		Max:  samples[len(samples)-1],
	}
}

// workerStats is what one caller goroutine records; it is owned by that
// goroutine until the scenario ends, so it needs no locking.
type workerStats struct {
	latencies  []time.Duration // successful calls only
	errors     map[string]int64
	nErrors    int64
	firstErr   string
	firstErrAt time.Time
}

func newWorkerStats(capacity int) *workerStats {
	return &workerStats{latencies: make([]time.Duration, 0, capacity)}
}

func (w *workerStats) ok(d time.Duration) { w.latencies = append(w.latencies, d) }

func (w *workerStats) fail(kind, msg string, at time.Time) {
	if w.errors == nil {
		w.errors = make(map[string]int64)
	}
	w.errors[kind]++
	w.nErrors++
	if w.firstErr == "" {
		w.firstErr, w.firstErrAt = msg, at
	}
}

// merged is the combination of all workers of one scenario.
type merged struct {
	latency    summary
	ok         int64
	errors     int64
	byKind     map[string]int64
	firstError string
}

// mergeWorkers combines per-worker records; the first error is the earliest
// in time across workers.
func mergeWorkers(ws []*workerStats) merged {
	total := 0
	for _, w := range ws {
		total += len(w.latencies)
	}
	all := make([]time.Duration, 0, total)
	m := merged{byKind: make(map[string]int64)}
	var firstAt time.Time
	for _, w := range ws {
		all = append(all, w.latencies...)
		m.errors += w.nErrors
		for k, v := range w.errors {
			m.byKind[k] += v
		}
		if w.firstErr != "" && (m.firstError == "" || w.firstErrAt.Before(firstAt)) {
			m.firstError, firstAt = w.firstErr, w.firstErrAt
		}
	}
	m.ok = int64(len(all))
	m.latency = summarize(all)
	return m
}

// sortedKinds returns the error kinds, most frequent first.
func sortedKinds(byKind map[string]int64) []string {
	kinds := slices.Collect(maps.Keys(byKind))
	slices.SortFunc(kinds, func(a, b string) int {
		if c := cmp.Compare(byKind[b], byKind[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return kinds
}
