package view

import (
	"testing"
	"time"
)

func TestTail(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	const timeout = 10 * time.Second
	type step struct {
		seen      []int64 // sequence numbers returned by this poll
		at        time.Duration
		wantNew   []int64 // which of them take() reports as new
		wantFloor int64
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{
			{seen: []int64{1, 2, 3}, wantNew: []int64{1, 2, 3}, wantFloor: 3},
			{seen: []int64{4}, at: time.Second, wantNew: []int64{4}, wantFloor: 4},
		}},
		{"late commit fills the hole", []step{
			{seen: []int64{1, 3}, wantNew: []int64{1, 3}, wantFloor: 1},
			{seen: []int64{2, 3}, at: time.Second, wantNew: []int64{2}, wantFloor: 3},
		}},
		{"re-reads above a hole are not applied twice", []step{
			{seen: []int64{2, 3}, wantNew: []int64{2, 3}, wantFloor: 0},
			{seen: []int64{2, 3, 4}, at: time.Second, wantNew: []int64{4}, wantFloor: 0},
		}},
		{"a hole older than the timeout is a rollback", []step{
			{seen: []int64{1, 3, 4}, wantNew: []int64{1, 3, 4}, wantFloor: 1},
			{seen: []int64{3, 4}, at: 5 * time.Second, wantNew: nil, wantFloor: 1},
			{seen: []int64{3, 4, 5}, at: 11 * time.Second, wantNew: []int64{5}, wantFloor: 5},
		}},
		{"two holes are skipped one after the other", []step{
			{seen: []int64{2, 4}, wantNew: []int64{2, 4}, wantFloor: 0},
			{seen: []int64{2, 4}, at: time.Second, wantFloor: 0},
			{seen: []int64{2, 4}, at: 12 * time.Second, wantFloor: 2},
			{seen: []int64{4}, at: 23 * time.Second, wantFloor: 4},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tl tail
			for i, s := range tc.steps {
				var fresh []int64
				for _, seq := range s.seen {
					if seq > tl.floor && tl.take(seq) {
						fresh = append(fresh, seq)
					}
				}
				tl.advance(t0.Add(s.at), timeout)
				if len(fresh) != len(s.wantNew) {
					t.Fatalf("step %d: new = %v, want %v", i, fresh, s.wantNew)
				}
				for j := range fresh {
					if fresh[j] != s.wantNew[j] {
						t.Fatalf("step %d: new = %v, want %v", i, fresh, s.wantNew)
					}
				}
				if tl.floor != s.wantFloor {
					t.Fatalf("step %d: floor = %d, want %d", i, tl.floor, s.wantFloor)
				}
			}
		})
	}
}
