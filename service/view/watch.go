package view

import (
	"maps"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/store"
)

// Snapshot is the revoked state at a subscription's start.
type Snapshot struct {
	Events []Event
	// Cursor is the position the snapshot reflects.
	Cursor int64
}

// Watch subscribes to the revocation events this replica applies. With
// resume it continues after cursor when the bounded feed still reaches
// back that far (any replica's cursor will do: they count change-log
// entries); otherwise, or without resume, it returns a snapshot of the
// revoked state first and reset says the cursor could not be used.
func (v *View) Watch(cursor int64, resume bool) (sub *Subscription, snap *Snapshot, reset bool, err error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	f := &v.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.wake == nil {
		return nil, nil, false, ErrWatchClosed
	}
	if f.watchers >= v.opts.MaxWatchers {
		return nil, nil, false, ErrTooManyWatchers
	}
	f.watchers++
	if resume && cursor >= f.base {
		start := f.next
		if len(f.entries) > 0 {
			start = f.entries[0].idx
		}
		return &Subscription{f: f, next: start, minSeq: cursor, cursor: cursor}, nil, false, nil
	}
	snap = &Snapshot{Events: v.snapshotLocked(), Cursor: f.floor}
	return &Subscription{f: f, next: f.next, cursor: f.floor}, snap, resume, nil
}

// Resnapshot restarts a lagged subscription from a snapshot.
func (v *View) Resnapshot(sub *Subscription) *Snapshot {
	v.mu.RLock()
	defer v.mu.RUnlock()
	f := sub.f
	f.mu.Lock()
	defer f.mu.Unlock()
	sub.next, sub.minSeq, sub.cursor = f.next, 0, f.floor
	return &Snapshot{Events: v.snapshotLocked(), Cursor: f.floor}
}

// snapshotLocked lists the revoked state in a stable order; v.mu is held.
func (v *View) snapshotLocked() []Event {
	var out []Event
	add := func(kind EventKind, m map[string]time.Time) {
		for _, id := range slices.Sorted(maps.Keys(m)) {
			out = append(out, Event{Kind: kind, ID: id, At: m[id]})
		}
	}
	add(EventTokenRevoked, v.revoked.jtis)
	add(EventSessionRevoked, v.revoked.families)
	add(EventSubjectRevoked, v.revoked.subjects)
	add(EventAccountDeleted, v.deleted)
	add(EventKeyRevoked, v.withdrawn)
	for _, id := range slices.Sorted(maps.Keys(v.accounts)) {
		if !v.accounts[id].Active {
			out = append(out, Event{Kind: EventAccountDisabled, ID: id})
		}
	}
	return out
}

// accountEvent is the event a change of an account's state makes, if any.
func accountEvent(id string, old *Account, wasDeleted bool, now *Account, at time.Time) (Event, bool) {
	switch {
	case now == nil && !wasDeleted:
		return Event{Kind: EventAccountDeleted, ID: id, At: at}, true
	case now == nil:
		return Event{}, false
	case !now.Active && (old == nil || old.Active):
		return Event{Kind: EventAccountDisabled, ID: id, At: at}, true
	case now.Active && old != nil && !old.Active:
		return Event{Kind: EventAccountEnabled, ID: id, At: at}, true
	}
	return Event{}, false
}

// stateEvent is an account's state after a change-log entry named it. It
// is sent for every such entry, changed or not: a watcher resumed from
// another replica's cursor may hold an older state than this replica.
func stateEvent(id string, now *Account, at time.Time) Event {
	switch {
	case now == nil:
		return Event{Kind: EventAccountDeleted, ID: id, At: at}
	case !now.Active:
		return Event{Kind: EventAccountDisabled, ID: id, At: at}
	}
	return Event{Kind: EventAccountEnabled, ID: id, At: at}
}

// diffLocked lists the events that take the state from the old maps to
// the view's current ones, for a full reload (which reads no change-log
// entries one by one); v.mu is held for writing.
func (v *View) diffLocked(accounts map[string]*Account, deleted map[string]time.Time, revoked revocations, at time.Time) []Event {
	var out []Event
	added := func(kind EventKind, before, after map[string]time.Time) {
		for _, id := range slices.Sorted(maps.Keys(after)) {
			if t, ok := before[id]; !ok || !t.Equal(after[id]) {
				out = append(out, Event{Kind: kind, ID: id, At: after[id]})
			}
		}
	}
	added(EventTokenRevoked, revoked.jtis, v.revoked.jtis)
	added(EventSessionRevoked, revoked.families, v.revoked.families)
	added(EventSubjectRevoked, revoked.subjects, v.revoked.subjects)
	ids := slices.Sorted(maps.Keys(accounts))
	for _, id := range ids {
		_, wasDeleted := deleted[id]
		if ev, ok := accountEvent(id, accounts[id], wasDeleted, v.accounts[id], at); ok {
			out = append(out, ev)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(v.accounts)) {
		if _, known := accounts[id]; !known {
			if ev, ok := accountEvent(id, nil, false, v.accounts[id], at); ok && ev.Kind == EventAccountDisabled {
				out = append(out, ev)
			}
		}
	}
	return out
}

// keysWithdrawn records the kids that left the published key set.
func (v *View) keysWithdrawn(old, now []string, at time.Time) []Event {
	var out []Event
	for _, kid := range old {
		if !slices.Contains(now, kid) {
			v.withdrawn[kid] = at
			out = append(out, Event{Kind: EventKeyRevoked, ID: kid, At: at})
		}
	}
	return out
}

// revocationEvent is the event of a revocation change-log entry.
func revocationEvent(c store.Change) (Event, bool) {
	switch c.Kind {
	case store.ChangeRevokeJTI:
		return Event{Kind: EventTokenRevoked, ID: c.Subject, At: c.CreatedAt}, true
	case store.ChangeRevokeFamily:
		return Event{Kind: EventSessionRevoked, ID: c.Subject, At: c.CreatedAt}, true
	case store.ChangeRevokeSubject:
		return Event{Kind: EventSubjectRevoked, ID: c.Subject, At: c.CreatedAt}, true
	}
	return Event{}, false
}

// kids lists the published key ids of a ring (nil ring: none).
func kids(r *keys.Ring) []string {
	if r == nil {
		return nil
	}
	out := make([]string, len(r.Published))
	for i, k := range r.Published {
		out[i] = k.KID
	}
	return out
}

// WatchHeartbeat is how often an idle watcher should hear from the server.
func (v *View) WatchHeartbeat() time.Duration { return v.opts.WatchHeartbeat }

// Watchers is the number of open revocation watchers (for a gauge).
func (v *View) Watchers() int {
	v.feed.mu.Lock()
	defer v.feed.mu.Unlock()
	return v.feed.watchers
}
