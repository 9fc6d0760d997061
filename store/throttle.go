package store

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/throttle"
)

// ThrottlePolicy says how many failures within Window lock a key, and for how long.
type ThrottlePolicy struct {
	MaxFailures int
	Window      time.Duration
	Lockout     time.Duration
}

// LockedUntil returns the latest lockout end among keys that is after now,
// or the zero time when none is locked.
func (s *Store) LockedUntil(ctx context.Context, now time.Time, keys ...string) (time.Time, error) {
	until, _, err := s.ThrottleState(ctx, now, keys...)
	return until, err
}

// ThrottleState returns the latest lockout end among keys that is after now
// (zero when none is locked) and which of the keys have failures counted, so
// that a success need only reset counters that exist.
func (s *Store) ThrottleState(ctx context.Context, now time.Time, keys ...string) (time.Time, map[string]bool, error) {
	es, err := s.client.Throttle.Query().Where(throttle.KeyIn(keys...)).All(ctx)
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("read throttles: %w", mapErr(err))
	}
	var until time.Time
	counted := make(map[string]bool, len(es))
	for _, e := range es {
		counted[e.Key] = e.Failures > 0 || e.LockedUntil != nil
		if e.LockedUntil != nil && e.LockedUntil.After(now) && e.LockedUntil.After(until) {
			until = e.LockedUntil.UTC()
		}
	}
	return until, counted, nil
}

// RecordFailure counts one failed attempt for key under p and returns the
// lockout end if this failure locked the key (zero otherwise). Counting is a
// locked read-modify-write, so replicas sharing the database agree.
func (s *Store) RecordFailure(ctx context.Context, key string, now time.Time, p ThrottlePolicy) (time.Time, error) {
	locked, err := s.recordFailure(ctx, key, now, p)
	if ent.IsConstraintError(err) {
		// Another replica inserted the first failure at the same moment.
		locked, err = s.recordFailure(ctx, key, now, p)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("record failure: %w", mapErr(err))
	}
	return locked, nil
}

func (s *Store) recordFailure(ctx context.Context, key string, now time.Time, p ThrottlePolicy) (time.Time, error) {
	var locked time.Time
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		q := tx.Throttle.Query().Where(throttle.Key(key))
		if s.dialect == dialect.Postgres {
			q = q.ForUpdate()
		}
		e, err := q.Only(ctx)
		if ent.IsNotFound(err) {
			// First failure for this key. A concurrent first insert loses on
			// the unique key and the caller's retry counts it.
			c := tx.Throttle.Create().SetKey(key).SetFailures(1).SetWindowStart(now)
			if p.MaxFailures <= 1 {
				locked = now.Add(p.Lockout)
				c.SetLockedUntil(locked)
			}
			return c.Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("read throttle: %w", mapErr(err))
		}
		failures, start := e.Failures, e.WindowStart
		if now.Sub(start) > p.Window || (e.LockedUntil != nil && !e.LockedUntil.After(now)) {
			failures, start = 0, now // the window (or the last lockout) has passed
		}
		failures++
		u := tx.Throttle.UpdateOneID(e.ID).SetFailures(failures).SetWindowStart(start)
		if e.LockedUntil != nil && !e.LockedUntil.After(now) {
			u.ClearLockedUntil() // the lockout is over: forget it, or the key could never lock again
		}
		if failures >= p.MaxFailures {
			locked = now.Add(p.Lockout)
			u.SetLockedUntil(locked)
		}
		return u.Exec(ctx)
	})
	return locked, err
}

// ResetFailures forgets the failures of key (after a successful login).
func (s *Store) ResetFailures(ctx context.Context, key string) error {
	if _, err := s.client.Throttle.Delete().Where(throttle.Key(key)).Exec(ctx); err != nil {
		return fmt.Errorf("reset throttle: %w", mapErr(err))
	}
	return nil
}

// PruneThrottles deletes counters whose window and lockout ended before cutoff.
func (s *Store) PruneThrottles(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := s.client.Throttle.Delete().Where(
		throttle.WindowStartLT(cutoff),
		throttle.Or(throttle.LockedUntilIsNil(), throttle.LockedUntilLT(cutoff)),
	).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune throttles: %w", mapErr(err))
	}
	return n, nil
}
