package view

import (
	"context"
	"errors"
	"sync"
	"time"
)

// EventKind says what a revocation event is about.
type EventKind int

const (
	EventTokenRevoked    EventKind = iota + 1 // ID is a jti
	EventSessionRevoked                       // ID is a session (refresh-token family) id
	EventSubjectRevoked                       // ID is an account id; tokens issued at or before At
	EventAccountDisabled                      // ID is an account id
	EventAccountEnabled                       // ID is an account id
	EventAccountDeleted                       // ID is an account id
	EventKeyRevoked                           // ID is a kid withdrawn from the key ring
)

// Event is one change of the revoked state, as this replica applied it.
type Event struct {
	Kind EventKind
	ID   string
	// At is when it happened (for EventSubjectRevoked: the cut-off).
	At time.Time
}

// Delivery is an event with the cursor to resume from after it: every
// change-log entry up to Cursor is reflected in what was delivered so far.
type Delivery struct {
	Event
	Cursor int64
}

var (
	// ErrTooManyWatchers: the replica's bound on watchers is reached.
	ErrTooManyWatchers = errors.New("too many revocation watchers on this replica")
	// ErrWatchClosed: the view stopped following the change log (shutdown).
	ErrWatchClosed = errors.New("the view stopped following the change log")
	// ErrLagged: the watcher fell behind the bounded event buffer and must
	// start over from a snapshot.
	ErrLagged = errors.New("the revocation watcher fell behind")
)

type feedEntry struct {
	idx   uint64 // position in this replica's feed
	seq   int64  // the change-log entry that produced it
	floor int64  // everything up to here was applied before this entry
	ev    Event
}

// feed is the bounded, in-memory list of events the view applied, which
// watchers read without touching the database. Appends happen under the
// view's write lock (lock order: View.mu, then feed.mu).
type feed struct {
	mu       sync.Mutex
	entries  []feedEntry // oldest first, at most max
	max      int
	next     uint64 // idx of the next append
	base     int64  // cursors below this cannot be resumed from
	floor    int64  // the view's tail floor after its last poll
	wake     chan struct{}
	closed   bool
	watchers int
}

func (f *feed) init(max int, floor int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.max, f.base, f.floor = max, floor, floor
	f.wake = make(chan struct{})
}

// append adds events produced by change-log entry seq.
func (f *feed) append(seq int64, evs ...Event) {
	if len(evs) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wake == nil { // not initialised: no view loaded yet
		return
	}
	for _, ev := range evs {
		f.entries = append(f.entries, feedEntry{idx: f.next, seq: seq, floor: f.floor, ev: ev})
		f.next++
	}
	if over := len(f.entries) - f.max; over > 0 {
		for _, e := range f.entries[:over] {
			f.base = max(f.base, e.seq)
		}
		f.entries = append(f.entries[:0:0], f.entries[over:]...)
	}
	f.notifyLocked()
}

// rebase makes cursors older than seq unusable (a full reload applied
// changes without events for each).
func (f *feed) rebase(seq int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.base = max(f.base, seq)
}

// setFloor publishes the view's tail floor after a poll.
func (f *feed) setFloor(floor int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.floor = floor
}

func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wake != nil && !f.closed {
		f.closed = true
		f.notifyLocked()
	}
}

func (f *feed) notifyLocked() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// Subscription reads the feed from one position on. Not safe for
// concurrent use; Close it when done.
type Subscription struct {
	f      *feed
	next   uint64
	minSeq int64 // entries of change-log entries up to here were delivered before
	cursor int64
	once   sync.Once
}

// Cursor is the position to resume from after everything delivered so far.
func (s *Subscription) Cursor() int64 {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if s.next == s.f.next {
		// Caught up: everything the view applied was delivered.
		s.cursor = max(s.cursor, s.f.floor)
	}
	return s.cursor
}

// Next returns the events after the subscription's position, waiting up to
// wait for some; an empty answer means none arrived in time (send a
// heartbeat). It fails with ErrLagged, ErrWatchClosed or ctx's error.
func (s *Subscription) Next(ctx context.Context, wait time.Duration) ([]Delivery, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.f.mu.Lock()
		if s.f.closed {
			s.f.mu.Unlock()
			return nil, ErrWatchClosed
		}
		if s.next < s.f.next {
			out, err := s.takeLocked()
			s.f.mu.Unlock()
			if err != nil || len(out) > 0 {
				return out, err
			}
			continue
		}
		wake := s.f.wake
		s.f.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, nil
		case <-wake:
		}
	}
}

func (s *Subscription) takeLocked() ([]Delivery, error) {
	if len(s.f.entries) == 0 || s.f.entries[0].idx > s.next {
		return nil, ErrLagged
	}
	start := int(s.next - s.f.entries[0].idx)
	var out []Delivery
	for _, e := range s.f.entries[start:] {
		s.next = e.idx + 1
		s.cursor = max(s.cursor, e.floor, s.minSeq)
		if e.seq <= s.minSeq && isRevocation(e.ev.Kind) {
			// A revocation is a fact of its change-log entry, already
			// delivered by the replica the cursor came from. Account and key
			// events carry the state read when this replica applied them, so
			// they are always delivered (repeating them is harmless).
			continue
		}
		out = append(out, Delivery{Event: e.ev, Cursor: s.cursor})
	}
	return out, nil
}

// Close releases the subscription's watcher slot.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.f.mu.Lock()
		s.f.watchers--
		s.f.mu.Unlock()
	})
}

func isRevocation(k EventKind) bool {
	return k == EventTokenRevoked || k == EventSessionRevoked || k == EventSubjectRevoked
}
