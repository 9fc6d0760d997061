package keys

import (
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// Policy is the key lifecycle.
//
//	next ──(publish lead passed and the active key is due)──▶ active ──(successor active)──▶ retired ──(its last token expired)──▶ removed
//	any state ──(revoke: leaked)──▶ revoked (withdrawn from the JWKS at once; its tokens are refused)
type Policy struct {
	// RotationInterval is how long a key signs before its successor takes
	// over (0: no automatic rotation).
	RotationInterval time.Duration
	// PublishLead is how long a new key is published before it signs, so
	// that every JWKS cache has seen it (default 2 h: Airflow refetches its
	// JWKS once an hour and never on an unknown kid).
	PublishLead time.Duration
	// RetainRetired is how long a retired key stays published: the longest
	// access-token lifetime plus leeway, so that its last token still verifies.
	RetainRetired time.Duration
}

// Validate checks the policy.
func (p Policy) Validate() error {
	switch {
	case p.PublishLead < 0 || p.RetainRetired <= 0 || p.RotationInterval < 0:
		return fmt.Errorf("key policy: lead %s must not be negative and retention %s must be positive", p.PublishLead, p.RetainRetired)
	case p.RotationInterval > 0 && p.RotationInterval <= p.PublishLead:
		return fmt.Errorf("key rotation interval %s must be longer than the publish lead %s", p.RotationInterval, p.PublishLead)
	}
	return nil
}

// newKeyFunc makes a new sealed key in a state; activatedAt is its
// (planned) activation time.
type newKeyFunc func(state store.KeyState, activatedAt time.Time) (store.SigningKey, error)

// plan computes the scheduled changes due at now: remove keys whose tokens
// have all expired, make sure exactly one key is active, and run the
// rotation (publish a successor PublishLead ahead, then switch to it).
// It is a pure function of the stored keys and the clock, so replicas
// running it under the key lock agree, and tests drive it with a fake clock.
func plan(keys []store.SigningKey, now time.Time, p Policy, newKey newKeyFunc) (store.KeyChanges, error) {
	var c store.KeyChanges
	var active, next []store.SigningKey
	for _, k := range keys {
		switch k.State {
		case store.KeyRetired, store.KeyRevoked:
			if !k.RetiredAt.IsZero() && !now.Before(k.RetiredAt.Add(p.RetainRetired)) {
				c.Delete = append(c.Delete, k.KID)
			}
		case store.KeyActive:
			active = append(active, k)
		case store.KeyNext:
			next = append(next, k)
		}
	}
	// Newest activation first; extra active keys (from an older version
	// without the key lock) are retired.
	slices.SortFunc(active, func(a, b store.SigningKey) int { return b.ActivatedAt.Compare(a.ActivatedAt) })
	for _, k := range active[min(1, len(active)):] {
		c.Update = append(c.Update, retire(k, now))
	}
	slices.SortFunc(next, func(a, b store.SigningKey) int { return a.ActivatedAt.Compare(b.ActivatedAt) })

	switch {
	case len(active) == 0 && len(next) > 0:
		// No signer (all revoked): the published successor takes over now.
		c.Update = append(c.Update, activate(next[0], now))
	case len(active) == 0:
		k, err := newKey(store.KeyActive, now)
		if err != nil {
			return store.KeyChanges{}, err
		}
		c.Create = append(c.Create, k)
	case len(next) > 0 && !now.Before(next[0].ActivatedAt):
		// Due successor, scheduled or asked for by an operator.
		c.Update = append(c.Update, activate(next[0], now), retire(active[0], now))
	case len(next) == 0 && p.RotationInterval > 0 && !now.Before(active[0].ActivatedAt.Add(p.RotationInterval-p.PublishLead)):
		at := later(now.Add(p.PublishLead), active[0].ActivatedAt.Add(p.RotationInterval))
		k, err := newKey(store.KeyNext, at)
		if err != nil {
			return store.KeyChanges{}, err
		}
		c.Create = append(c.Create, k)
	}
	return c, nil
}

// planRotate is a rotation asked for by an operator. Unless immediate, it
// publishes a successor that takes over after the publish lead (or reports
// the one already scheduled). Immediate switches now: to the published
// successor if there is one, else to a new key that consumers learn about
// only on their next JWKS fetch (the emergency path).
func planRotate(keys []store.SigningKey, now time.Time, p Policy, immediate bool, newKey newKeyFunc) (store.KeyChanges, error) {
	var c store.KeyChanges
	var active, next *store.SigningKey
	for i, k := range keys {
		switch {
		case k.State == store.KeyActive && (active == nil || k.ActivatedAt.After(active.ActivatedAt)):
			active = &keys[i]
		case k.State == store.KeyNext && (next == nil || k.ActivatedAt.Before(next.ActivatedAt)):
			next = &keys[i]
		}
	}
	switch {
	case !immediate && next != nil:
		return c, nil // already scheduled
	case !immediate:
		k, err := newKey(store.KeyNext, now.Add(p.PublishLead))
		if err != nil {
			return store.KeyChanges{}, err
		}
		c.Create = append(c.Create, k)
		return c, nil
	case next != nil:
		c.Update = append(c.Update, activate(*next, now))
	default:
		k, err := newKey(store.KeyActive, now)
		if err != nil {
			return store.KeyChanges{}, err
		}
		c.Create = append(c.Create, k)
	}
	if active != nil {
		c.Update = append(c.Update, retire(*active, now))
	}
	return c, nil
}

// planRevoke withdraws a key at once. If it was the signer, the published
// successor (or a new key) signs from now on.
func planRevoke(keys []store.SigningKey, kid string, now time.Time, p Policy, newKey newKeyFunc) (store.KeyChanges, error) {
	i := slices.IndexFunc(keys, func(k store.SigningKey) bool { return k.KID == kid })
	if i < 0 || keys[i].State == store.KeyRevoked {
		return store.KeyChanges{}, fmt.Errorf("%w: no published key %q", store.ErrNotFound, kid)
	}
	revoked := keys[i]
	wasActive := revoked.State == store.KeyActive
	revoked.State, revoked.RetiredAt = store.KeyRevoked, now
	rest := slices.Delete(slices.Clone(keys), i, i+1)
	c := store.KeyChanges{Update: []store.SigningKey{revoked}}
	if wasActive {
		// Plan as if the key were gone: promotes a successor or makes one.
		more, err := plan(rest, now, Policy{RetainRetired: p.RetainRetired}, newKey)
		if err != nil {
			return store.KeyChanges{}, err
		}
		c.Create = append(c.Create, more.Create...)
		c.Update = append(c.Update, more.Update...)
	}
	return c, nil
}

func activate(k store.SigningKey, now time.Time) store.SigningKey {
	k.State, k.ActivatedAt = store.KeyActive, now
	return k
}

func retire(k store.SigningKey, now time.Time) store.SigningKey {
	k.State, k.RetiredAt = store.KeyRetired, now
	return k
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// retireAll retires every signing or published key (ID-token keys that
// RS256 access-token keys made unneeded) and removes them after the
// retention, like plan does.
func retireAll(keys []store.SigningKey, now time.Time, p Policy) store.KeyChanges {
	var c store.KeyChanges
	for _, k := range keys {
		switch k.State {
		case store.KeyActive, store.KeyNext:
			c.Update = append(c.Update, retire(k, now))
		case store.KeyRetired, store.KeyRevoked:
			if !k.RetiredAt.IsZero() && !now.Before(k.RetiredAt.Add(p.RetainRetired)) {
				c.Delete = append(c.Delete, k.KID)
			}
		}
	}
	return c
}
