package gatehouse

import (
	"sync"
	"time"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// revocations is the revoked state pushed by WatchRevocations.
type revocations struct {
	mu       sync.RWMutex
	tokens   map[string]time.Time // jti → until when it matters
	sessions map[string]time.Time
	subjects map[string]cutoff
	disabled map[string]bool
	deleted  map[string]time.Time
	keys     map[string]time.Time
	cursor   string
	synced   bool      // a snapshot or a resumed stream made the state current
	heard    time.Time // when the stream last delivered anything
}

type cutoff struct{ before, until time.Time }

func newRevocations() *revocations {
	r := &revocations{}
	r.clearLocked()
	return r
}

func (r *revocations) clearLocked() {
	r.tokens, r.sessions, r.subjects = map[string]time.Time{}, map[string]time.Time{}, map[string]cutoff{}
	r.disabled, r.deleted, r.keys = map[string]bool{}, map[string]time.Time{}, map[string]time.Time{}
	r.cursor, r.synced = "", false
}

// apply takes one event; resumed says the stream continued from a cursor
// (so the state was current before its first event).
func (r *revocations) apply(ev *gatehousev1.RevocationEvent, resumed bool, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.GetReset_() {
		r.clearLocked() // a snapshot replaces everything; cut short, it is started over
	}
	r.heard = now
	if resumed {
		r.synced = true
	}
	until := farFuture
	if ev.GetExpireTime() != nil {
		until = ev.GetExpireTime().AsTime()
	}
	id := ev.GetId()
	switch ev.GetKind() {
	case gatehousev1.RevocationEvent_KIND_TOKEN_REVOKED:
		r.tokens[id] = until
	case gatehousev1.RevocationEvent_KIND_SESSION_REVOKED:
		r.sessions[id] = until
	case gatehousev1.RevocationEvent_KIND_SUBJECT_REVOKED:
		before := ev.GetRevokedBefore().AsTime()
		if c, ok := r.subjects[id]; !ok || before.After(c.before) {
			r.subjects[id] = cutoff{before: before, until: until}
		}
	case gatehousev1.RevocationEvent_KIND_ACCOUNT_DISABLED:
		r.disabled[id] = true
	case gatehousev1.RevocationEvent_KIND_ACCOUNT_ENABLED:
		delete(r.disabled, id)
	case gatehousev1.RevocationEvent_KIND_ACCOUNT_DELETED:
		r.deleted[id] = until
	case gatehousev1.RevocationEvent_KIND_KEY_REVOKED:
		r.keys[id] = until
	case gatehousev1.RevocationEvent_KIND_SNAPSHOT_END:
		r.synced = true
	case gatehousev1.RevocationEvent_KIND_HEARTBEAT:
		r.prune(now)
	}
	if c := ev.GetCursor(); c != "" {
		r.cursor = c
	}
}

var farFuture = time.Unix(1<<62, 0)

// prune drops entries no live token can match any more; mu is held.
func (r *revocations) prune(now time.Time) {
	for _, m := range []map[string]time.Time{r.tokens, r.sessions, r.deleted, r.keys} {
		for k, until := range m {
			if until.Before(now) {
				delete(m, k)
			}
		}
	}
	for k, c := range r.subjects {
		if c.until.Before(now) {
			delete(r.subjects, k)
		}
	}
}

// current reports whether the state can be trusted: synced and heard from
// within staleAfter.
func (r *revocations) current(now time.Time, staleAfter time.Duration) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.synced && now.Sub(r.heard) <= staleAfter
}

func (r *revocations) resumeCursor() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cursor
}

// revoked returns why a token is refused, or "".
func (r *revocations) revoked(c *claims, kid string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch {
	case c.ID != "" && r.has(r.tokens, c.ID):
		return "the token was revoked"
	case c.SessionID != "" && r.has(r.sessions, c.SessionID):
		return "the token's session was revoked"
	case r.disabled[c.accountID()]:
		return "the account is disabled"
	case r.has(r.deleted, c.accountID()):
		return "the account was deleted"
	case r.has(r.keys, kid):
		return "the token's signing key was revoked"
	}
	if cut, ok := r.subjects[c.accountID()]; ok && !time.Unix(c.IssuedAt, 0).After(cut.before) {
		return "the account's tokens were revoked"
	}
	return ""
}

func (r *revocations) has(m map[string]time.Time, id string) bool {
	_, ok := m[id]
	return ok
}
