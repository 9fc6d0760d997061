package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/predicate"
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

// PruneThrottles deletes counters whose window, lockout and trust ended
// before cutoff.
func (s *Store) PruneThrottles(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := s.client.Throttle.Delete().Where(
		throttle.WindowStartLT(cutoff),
		throttle.Or(throttle.LockedUntilIsNil(), throttle.LockedUntilLT(cutoff)),
		throttle.Or(throttle.TrustedUntilIsNil(), throttle.TrustedUntilLT(cutoff)),
	).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune throttles: %w", mapErr(err))
	}
	return n, nil
}

// ThrottleCounter is one counter an authentication attempt is charged to.
type ThrottleCounter struct {
	Key    string
	Policy ThrottlePolicy
	// Pair marks the (account, client IP) counter. A success clears it and
	// trusts the pair; while the pair is trusted, the lockouts of the
	// attempt's other counters do not apply to it (its own lockout does).
	Pair bool
}

// ReserveAttempt is the throttle's one locked step before a password or
// secret is checked. In a single transaction, with the counters' rows locked
// (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises transactions), it
// checks every counter and, when none applies a lockout, counts the attempt
// as a failure on every counter, locking those that reach their limit. So N
// concurrent attempts get at most the limit evaluated, and an attempt that is
// never finished stays counted. It returns the end of the lockout that
// refused the attempt (nothing is counted then), or the zero time when the
// attempt was reserved, and the keys of the counters this reservation locked.
// A success gives the reservation back with ReleaseAttempt.
func (s *Store) ReserveAttempt(ctx context.Context, now time.Time, counters []ThrottleCounter) (refused time.Time, locked []string, err error) {
	now = now.UTC()
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		refused, locked = time.Time{}, nil
		rows, err := s.lockCounters(ctx, tx, now, counters, true)
		if err != nil {
			return err
		}
		trusted := false
		for _, c := range counters {
			if r := rows[c.Key]; c.Pair && r != nil && r.TrustedUntil != nil && r.TrustedUntil.After(now) {
				trusted = true
			}
		}
		for _, c := range counters {
			r := rows[c.Key]
			if r.LockedUntil != nil && r.LockedUntil.After(now) && (c.Pair || !trusted) && r.LockedUntil.After(refused) {
				refused = r.LockedUntil.UTC()
			}
		}
		if !refused.IsZero() {
			return nil
		}
		for _, c := range uniqueCounters(counters) {
			r := rows[c.Key]
			failures, start := r.Failures, r.WindowStart
			lockRunning := r.LockedUntil != nil && r.LockedUntil.After(now)
			if !lockRunning && (now.Sub(start) > c.Policy.Window || r.LockedUntil != nil) {
				failures, start = 0, now // the window or the last lockout has passed
			}
			failures++
			u := tx.Throttle.UpdateOneID(r.ID).SetFailures(failures).SetWindowStart(start)
			switch {
			case lockRunning: // a waived lockout is not extended
			case failures >= c.Policy.MaxFailures:
				u.SetLockedUntil(now.Add(c.Policy.Lockout))
				locked = append(locked, c.Key)
				if err := s.appendThrottleChange(ctx, tx, c.Key); err != nil {
					return err
				}
			case r.LockedUntil != nil:
				u.ClearLockedUntil()
			}
			if err := u.Exec(ctx); err != nil {
				return fmt.Errorf("count attempt: %w", mapErr(err))
			}
		}
		return nil
	})
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("reserve attempt: %w", err)
	}
	return refused, locked, nil
}

// CheckAttempt is ReserveAttempt's refusal rule without counting, for
// credentials that were checked first (service clients: their secrets are
// random, so there is nothing to guess, and counting correct attempts in
// flight would lock a busy client out). It reads only: refused is the end
// of the lockout that refuses the attempt (zero when none applies);
// pairClean reports that the (account, IP) counter has no failures and is
// trusted until at least trustUntil, so that a success has nothing to write.
func (s *Store) CheckAttempt(ctx context.Context, now time.Time, counters []ThrottleCounter, trustUntil time.Time) (refused time.Time, pairClean bool, err error) {
	now = now.UTC()
	keys := make([]string, 0, len(counters))
	for _, c := range counters {
		keys = append(keys, c.Key)
	}
	es, err := s.client.Throttle.Query().Where(throttle.KeyIn(keys...)).All(ctx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read throttles: %w", mapErr(err))
	}
	rows := make(map[string]*ent.Throttle, len(es))
	for _, e := range es {
		rows[e.Key] = e
	}
	trusted, pairClean := false, true
	for _, c := range counters {
		r := rows[c.Key]
		if !c.Pair {
			continue
		}
		if r != nil && r.TrustedUntil != nil && r.TrustedUntil.After(now) {
			trusted = true
		}
		if r != nil && (r.Failures > 0 || r.LockedUntil != nil) {
			pairClean = false
		}
		if !trustUntil.IsZero() && (r == nil || r.TrustedUntil == nil || r.TrustedUntil.Before(trustUntil.Add(-time.Hour))) {
			pairClean = false // trust renewed at most hourly, not on every call
		}
	}
	for _, c := range counters {
		r := rows[c.Key]
		if r != nil && r.LockedUntil != nil && r.LockedUntil.After(now) && (c.Pair || !trusted) && r.LockedUntil.After(refused) {
			refused = r.LockedUntil.UTC()
		}
	}
	return refused, pairClean, nil
}

// RecordSuccess is a success checked by CheckAttempt: the (account, IP)
// counter is cleared and trusted until trustUntil (zero: not trusted); the
// other counters keep their failures (nothing was reserved).
func (s *Store) RecordSuccess(ctx context.Context, now time.Time, counters []ThrottleCounter, trustUntil time.Time) error {
	var pair []ThrottleCounter
	for _, c := range counters {
		if c.Pair {
			pair = append(pair, c)
		}
	}
	if len(pair) == 0 {
		return nil
	}
	now = now.UTC()
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		rows, err := s.lockCounters(ctx, tx, now, pair, !trustUntil.IsZero())
		if err != nil {
			return err
		}
		for _, c := range uniqueCounters(pair) {
			r := rows[c.Key]
			if r == nil {
				continue
			}
			u := tx.Throttle.UpdateOneID(r.ID).SetFailures(0).ClearLockedUntil()
			if !trustUntil.IsZero() && (r.TrustedUntil == nil || trustUntil.After(*r.TrustedUntil)) {
				u.SetTrustedUntil(trustUntil.UTC())
			}
			if err := u.Exec(ctx); err != nil {
				return fmt.Errorf("record success: %w", mapErr(err))
			}
			if err := s.lockLifted(ctx, tx, now, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record success: %w", err)
	}
	return nil
}

// ReleaseAttempt gives back a reservation of ReserveAttempt after a
// successful authentication: the pair counter is cleared and trusted until
// trustUntil (when later than its current trust), and every other counter
// loses the one failure the reservation counted, and its lockout if that
// reservation set it. Counts of other attempts are kept, so one valid login
// does not launder an IP's or a distributed attack's guesses.
func (s *Store) ReleaseAttempt(ctx context.Context, now time.Time, counters []ThrottleCounter, trustUntil time.Time) error {
	now = now.UTC()
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		rows, err := s.lockCounters(ctx, tx, now, counters, false)
		if err != nil {
			return err
		}
		for _, c := range uniqueCounters(counters) {
			r := rows[c.Key]
			if r == nil {
				continue // pruned or unlocked meanwhile
			}
			u := tx.Throttle.UpdateOneID(r.ID)
			if c.Pair {
				u.SetFailures(0).ClearLockedUntil()
				if !trustUntil.IsZero() && (r.TrustedUntil == nil || trustUntil.After(*r.TrustedUntil)) {
					u.SetTrustedUntil(trustUntil.UTC())
				}
			} else {
				failures := max(r.Failures-1, 0)
				u.SetFailures(failures)
				if failures < c.Policy.MaxFailures && r.LockedUntil != nil {
					u.ClearLockedUntil()
				}
			}
			if err := u.Exec(ctx); err != nil {
				return fmt.Errorf("release attempt: %w", mapErr(err))
			}
			if c.Pair || max(r.Failures-1, 0) < c.Policy.MaxFailures {
				if err := s.lockLifted(ctx, tx, now, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("release attempt: %w", err)
	}
	return nil
}

// uniqueCounters returns counters without repeated keys, first one kept.
func uniqueCounters(counters []ThrottleCounter) []ThrottleCounter {
	out := make([]ThrottleCounter, 0, len(counters))
	for _, c := range counters {
		if !slices.ContainsFunc(out, func(o ThrottleCounter) bool { return o.Key == c.Key }) {
			out = append(out, c)
		}
	}
	return out
}

// lockCounters returns the rows of counters by key, locked for update on
// PostgreSQL, in key order so that concurrent attempts sharing counters
// cannot deadlock. With create, missing rows are first inserted empty
// (INSERT ... ON CONFLICT DO NOTHING, also in key order), so that the first
// attempts on a new key are serialised like every later one.
func (s *Store) lockCounters(ctx context.Context, tx *ent.Tx, now time.Time, counters []ThrottleCounter, create bool) (map[string]*ent.Throttle, error) {
	keys := make([]string, 0, len(counters))
	for _, c := range counters {
		if c.Key == "" || len(c.Key) > maxThrottleKey {
			return nil, fmt.Errorf("throttle key of %d bytes is empty or longer than %d", len(c.Key), maxThrottleKey)
		}
		keys = append(keys, c.Key)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if create {
		for _, k := range keys {
			q, args := entsql.Dialect(s.dialect).Insert(throttle.Table).
				Columns(throttle.FieldKey, throttle.FieldFailures, throttle.FieldWindowStart).
				Values(k, 0, now).
				OnConflict(entsql.ConflictColumns(throttle.FieldKey), entsql.DoNothing()).
				Query()
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return nil, fmt.Errorf("create throttle counter: %w", mapErr(err))
			}
		}
	}
	q := tx.Throttle.Query().Where(throttle.KeyIn(keys...)).Order(throttle.ByKey())
	if s.dialect == dialect.Postgres {
		q = q.ForUpdate()
	}
	es, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read throttle counters: %w", mapErr(err))
	}
	rows := make(map[string]*ent.Throttle, len(es))
	for _, e := range es {
		rows[e.Key] = e
	}
	if create && len(rows) != len(keys) {
		return nil, fmt.Errorf("throttle counters: %d of %d rows found after insert", len(rows), len(keys))
	}
	return rows, nil
}

// appendThrottleChange tells every replica's view that key's lockout
// changed. Keys longer than a change subject go as "": the view then
// re-reads all running lockouts.
func (s *Store) appendThrottleChange(ctx context.Context, tx *ent.Tx, key string) error {
	if len(key) > maxChangeSubject {
		key = ""
	}
	return s.appendChange(ctx, tx, ChangeThrottle, key)
}

// lockLifted appends a throttle change when r (as read before an update
// that cleared its lockout) was locked at now; expired lockouts need none,
// views drop them on their own.
func (s *Store) lockLifted(ctx context.Context, tx *ent.Tx, now time.Time, r *ent.Throttle) error {
	if r.LockedUntil == nil || !r.LockedUntil.After(now) {
		return nil
	}
	return s.appendThrottleChange(ctx, tx, r.Key)
}

// maxChangeSubject is the longest change-log subject the schema stores.
const maxChangeSubject = 128

// RunningLockouts returns key → lockout end of every counter locked at now.
func (s *Store) RunningLockouts(ctx context.Context, now time.Time) (map[string]time.Time, error) {
	es, err := s.client.Throttle.Query().Where(throttle.LockedUntilGT(now.UTC())).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read running lockouts: %w", mapErr(err))
	}
	out := make(map[string]time.Time, len(es))
	for _, e := range es {
		out[e.Key] = e.LockedUntil.UTC()
	}
	return out, nil
}

// maxThrottleKey is the longest key the schema stores.
const maxThrottleKey = 300

// ClearThrottles lifts the lockouts and forgets the failures of the counters
// named exactly by keys or starting with one of prefixes (an administrator's
// unlock, or a password reset). Trust is kept. It returns how many counters
// had failures or a running lockout.
func (s *Store) ClearThrottles(ctx context.Context, now time.Time, keys, prefixes []string) (int, error) {
	now = now.UTC()
	n := 0
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		n = 0
		preds := []predicate.Throttle{}
		if len(keys) > 0 {
			preds = append(preds, throttle.KeyIn(keys...))
		}
		for _, p := range prefixes {
			preds = append(preds, throttle.KeyHasPrefix(p))
		}
		if len(preds) == 0 {
			return nil
		}
		q := tx.Throttle.Query().Where(throttle.Or(preds...)).Order(throttle.ByKey())
		if s.dialect == dialect.Postgres {
			q = q.ForUpdate()
		}
		es, err := q.All(ctx)
		if err != nil {
			return fmt.Errorf("read throttle counters: %w", mapErr(err))
		}
		var ids []int
		for _, e := range es {
			// LIKE may ignore case (SQLite); match exactly here.
			exact := slices.Contains(keys, e.Key) || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(e.Key, p) })
			if !exact || (e.Failures == 0 && e.LockedUntil == nil) {
				continue
			}
			if e.LockedUntil != nil && e.LockedUntil.After(now) || e.Failures > 0 {
				n++
			}
			ids = append(ids, e.ID)
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Throttle.Update().Where(throttle.IDIn(ids...)).SetFailures(0).ClearLockedUntil().Save(ctx); err != nil {
			return fmt.Errorf("clear throttle counters: %w", mapErr(err))
		}
		for _, e := range es {
			if slices.Contains(ids, e.ID) {
				if err := s.lockLifted(ctx, tx, now, e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("clear throttles: %w", err)
	}
	return n, nil
}
