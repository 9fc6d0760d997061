package view

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// Service-client authentication reads the view only: a client's secret hash
// comes with its account, and the login-throttle lockouts that can refuse a
// right secret reach every replica through the change log (a "throttle"
// entry names the counter; the view reads that one row).

// Client returns the service client with clientID, if the view knows it.
func (v *View) Client(clientID string) (string, Account, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	id, ok := v.clients[clientID]
	if !ok {
		return "", Account{}, false
	}
	a := v.accounts[id]
	if a == nil || a.Kind != store.KindService {
		return "", Account{}, false
	}
	return id, *a, true
}

// LockedUntil returns the latest lockout end among keys that is after now,
// or the zero time when the view knows none.
func (v *View) LockedUntil(now time.Time, keys ...string) time.Time {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var until time.Time
	for _, k := range keys {
		if t, ok := v.locks[k]; ok && t.After(now) && t.After(until) {
			until = t
		}
	}
	return until
}

// clientIndex maps client ids to account ids.
func clientIndex(accounts map[string]*Account) map[string]string {
	out := make(map[string]string)
	for id, a := range accounts {
		if a.Kind == store.KindService && a.ClientID != "" {
			out[a.ClientID] = id
		}
	}
	return out
}

// indexClientLocked keeps the client index in step with one account's
// change; v.mu is held for writing.
func (v *View) indexClientLocked(id string, old, now *Account) {
	if old != nil && old.ClientID != "" && v.clients[old.ClientID] == id {
		delete(v.clients, old.ClientID)
	}
	if now != nil && now.Kind == store.KindService && now.ClientID != "" {
		v.clients[now.ClientID] = id
	}
}

// refreshLock applies a throttle change-log entry: one counter's row, or
// every running lockout when the entry names no key.
func (v *View) refreshLock(ctx context.Context, key string) error {
	now := v.now()
	if key == "" {
		all, err := v.store.RunningLockouts(ctx, now)
		if err != nil {
			return err
		}
		v.mu.Lock()
		v.locks = all
		v.mu.Unlock()
		return nil
	}
	until, err := v.store.LockedUntil(ctx, now, key)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if until.IsZero() {
		delete(v.locks, key)
	} else {
		v.locks[key] = until
	}
	return nil
}

// pruneLocksLocked drops ended lockouts (Run calls it with the change-log
// pruning; lookups ignore ended ones meanwhile); v.mu is held for writing.
func (v *View) pruneLocksLocked(now time.Time) {
	for k, t := range v.locks {
		if !t.After(now) {
			delete(v.locks, k)
		}
	}
}
