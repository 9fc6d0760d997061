package view

import (
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// tail tracks which change-log sequence numbers have been applied.
//
// On PostgreSQL, sequence numbers are handed out at insert time but become
// visible at commit time, so seq 7 can be seen before seq 6. Polling by
// "greater than the highest seen" would lose seq 6; instead floor is the
// highest number below which everything was applied, and the numbers seen
// above it are remembered. A hole that stays open longer than the gap
// timeout belongs to a rolled-back transaction and is skipped.
type tail struct {
	floor    int64
	above    map[int64]bool
	gapSince time.Time
}

// take reports whether seq is new, and marks it seen.
func (t *tail) take(seq int64) bool {
	if seq <= t.floor || t.above[seq] {
		return false
	}
	if t.above == nil {
		t.above = make(map[int64]bool)
	}
	t.above[seq] = true
	return true
}

// forget un-marks seq so that the next poll applies it again.
func (t *tail) forget(seq int64) { delete(t.above, seq) }

// advance moves floor over contiguous seen numbers and skips holes older
// than timeout.
func (t *tail) advance(now time.Time, timeout time.Duration) {
	t.compact()
	if len(t.above) == 0 {
		t.gapSince = time.Time{}
		return
	}
	if t.gapSince.IsZero() {
		t.gapSince = now
		return
	}
	if now.Sub(t.gapSince) < timeout {
		return
	}
	lowest := int64(0)
	for seq := range t.above {
		if lowest == 0 || seq < lowest {
			lowest = seq
		}
	}
	t.floor = lowest - 1
	t.compact()
	t.gapSince = time.Time{}
	if len(t.above) > 0 {
		t.gapSince = now
	}
}

func (t *tail) compact() {
	for t.above[t.floor+1] {
		delete(t.above, t.floor+1)
		t.floor++
	}
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
