// Package view is a replica's in-memory picture of what token validation needs:
// the signing keys and, per account, whether it is active and which roles it
// holds. ValidateToken reads only this, never the database.
//
// The view is kept current by tailing the store's change log: every state
// change that can invalidate a token appends a row in the same transaction,
// and each replica polls `seq > last seen` every PollInterval. A change is thus
// visible everywhere within PollInterval plus one query.
package view

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/store"
)

// Account is what validation needs to know of an account.
type Account struct {
	Kind     store.AccountKind
	Username string
	ClientID string
	Email    string
	Active   bool
	Roles    []string
	// Service clients only: what authenticating one and issuing its
	// token need (clients.go).
	DisplayName string
	SecretHash  []byte
	Audiences   []string
}

// Status is the view's answer for a subject.
type Status int

const (
	// Unknown: not seen yet, e.g. created on another replica a moment ago.
	// The token's signature proves it existed when the token was issued.
	Unknown Status = iota
	Present
	// Deleted: the account was deleted; its tokens are refused.
	Deleted
)

// Options tune the view.
type Options struct {
	// PollInterval is how often the change log is read (default 1 s).
	PollInterval time.Duration
	// ReloadInterval is how often the whole view is reloaded as a safety net
	// (default 10 min).
	ReloadInterval time.Duration
	// Retention is how long change-log rows are kept; it must exceed the
	// longest access-token lifetime (default 24 h).
	Retention time.Duration
	// GapTimeout is how long a missing sequence number is waited for before
	// it is taken as a rolled-back transaction (default 10 s).
	GapTimeout time.Duration
	// MaxWatchers bounds the revocation watchers (WatchRevocations
	// streams) of this replica (default 1024).
	MaxWatchers int
	// WatchBuffer is how many recent revocation events are kept for
	// watchers to resume from (default 10 000).
	WatchBuffer int
	// WatchHeartbeat is how often an idle watcher hears a heartbeat
	// (default 15 s).
	WatchHeartbeat time.Duration
}

func (o *Options) defaults() {
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.ReloadInterval <= 0 {
		o.ReloadInterval = 10 * time.Minute
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.GapTimeout <= 0 {
		o.GapTimeout = 10 * time.Second
	}
	if o.MaxWatchers <= 0 {
		o.MaxWatchers = 1024
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = 10000
	}
	if o.WatchHeartbeat <= 0 {
		o.WatchHeartbeat = 15 * time.Second
	}
}

// View is safe for concurrent use; reads are lock-free for keys and take a
// read lock for accounts.
type View struct {
	store    *store.Store
	keys     *keys.Manager
	opts     Options
	now      func() time.Time
	log      *slog.Logger
	ring     atomic.Pointer[keys.Ring]
	lastSync atomic.Int64 // unix nanos of the last successful poll
	// profiles are the claim profiles by audience (profiles.go).
	profiles atomic.Pointer[profiles]

	mu       sync.RWMutex
	accounts map[string]*Account
	clients  map[string]string    // client id → account id (clients.go)
	locks    map[string]time.Time // throttle counter key → running lockout end
	links    links                // (trusted issuer, subject) → account id
	deleted  map[string]time.Time
	revoked  revocations
	issuers  func([]store.TrustedIssuer)
	// withdrawn are the kids that left the key ring while this replica ran.
	withdrawn map[string]time.Time
	feed      feed // what watchers read (watch.go)

	pollMu   sync.Mutex // serialises polls
	tail     tail
	lastFull time.Time
}

// New returns an empty view; call Load before use.
func New(st *store.Store, km *keys.Manager, opts Options, now func() time.Time, log *slog.Logger) *View {
	opts.defaults()
	return &View{store: st, keys: km, opts: opts, now: now, log: log}
}

// Ring returns the current key ring.
func (v *View) Ring() *keys.Ring { return v.ring.Load() }

// Account returns the view's state for an account id.
func (v *View) Account(id string) (Account, Status) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if a, ok := v.accounts[id]; ok {
		return *a, Present
	}
	if _, ok := v.deleted[id]; ok {
		return Account{}, Deleted
	}
	return Account{}, Unknown
}

// OnIssuers registers the function that receives the trusted issuers at
// every load and change (the federation verifier). Call before Load.
func (v *View) OnIssuers(fn func([]store.TrustedIssuer)) { v.issuers = fn }

func (v *View) loadIssuers(ctx context.Context) error {
	if v.issuers == nil {
		return nil
	}
	list, err := v.store.TrustedIssuers(ctx)
	if err != nil {
		return err
	}
	v.issuers(list)
	return nil
}

// Revoked reports whether a token was revoked: by its jti, by its session
// (refresh-token family), or by a "revoke everything" of its subject after
// it was issued.
func (v *View) Revoked(jti, session, subject string, issuedAt time.Time) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.revoked.covers(jti, session, subject, issuedAt)
}

// SessionRevoked reports whether a session (refresh-token family) was revoked.
func (v *View) SessionRevoked(session string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	_, ok := v.revoked.families[session]
	return ok
}

// LastSync is when the view last read the change log successfully.
func (v *View) LastSync() time.Time { return time.Unix(0, v.lastSync.Load()) }

// Load reads everything from the database: keys, accounts, and the recently
// deleted accounts named in the retained change log.
func (v *View) Load(ctx context.Context) error {
	v.pollMu.Lock()
	defer v.pollMu.Unlock()
	return v.loadLocked(ctx)
}

func (v *View) loadLocked(ctx context.Context) error {
	start := v.now()
	seq, err := v.store.LastChangeSeq(ctx)
	if err != nil {
		return err
	}
	ring, err := v.keys.Load(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	all, err := v.store.AllAccounts(ctx)
	if err != nil {
		return err
	}
	accounts := make(map[string]*Account, len(all))
	for _, a := range all {
		accounts[a.ID] = fromStore(a)
	}
	links, err := v.loadLinks(ctx)
	if err != nil {
		return err
	}
	locks, err := v.store.RunningLockouts(ctx, start)
	if err != nil {
		return err
	}
	deleted := make(map[string]time.Time)
	revoked := newRevocations()
	for after := int64(0); ; {
		page, err := v.store.ChangesAfter(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, c := range page {
			if c.Kind == store.ChangeAccount && accounts[c.Subject] == nil {
				deleted[c.Subject] = c.CreatedAt
			}
			revoked.apply(c)
			after = c.Seq
		}
		if len(page) < 1000 {
			break
		}
	}
	oldRing := v.ring.Swap(ring)
	v.mu.Lock()
	oldAccounts, oldDeleted, oldRevoked := v.accounts, v.deleted, v.revoked
	v.accounts, v.links, v.deleted, v.revoked = accounts, links, deleted, revoked
	v.clients, v.locks = clientIndex(accounts), locks
	if oldAccounts == nil {
		v.withdrawn = make(map[string]time.Time)
		v.feed.init(v.opts.WatchBuffer, seq)
	} else {
		// A full reload applies changes without reading them one by one:
		// watchers get the difference.
		evs := v.diffLocked(oldAccounts, oldDeleted, oldRevoked, start)
		evs = append(evs, v.keysWithdrawn(kids(oldRing), kids(ring), start)...)
		v.feed.append(seq, evs...)
		v.feed.rebase(seq)
	}
	v.mu.Unlock()
	v.feed.setFloor(seq)
	if err := v.loadIssuers(ctx); err != nil {
		return err
	}
	if err := v.loadProfiles(ctx); err != nil {
		return err
	}
	v.tail = tail{floor: seq}
	v.lastFull = start
	v.lastSync.Store(start.UnixNano())
	return nil
}

// Poll applies the change-log entries written since the last poll. Writers
// call it after a change so that their own replica sees it at once.
func (v *View) Poll(ctx context.Context) error {
	v.pollMu.Lock()
	defer v.pollMu.Unlock()
	start := v.now()
	if start.Sub(v.lastFull) >= v.opts.ReloadInterval {
		return v.loadLocked(ctx)
	}
	reloadKeys, reloadIssuers, reloadProfiles := false, false, false
	for {
		page, err := v.store.ChangesAfter(ctx, v.tail.floor, 1000)
		if err != nil {
			return err
		}
		for _, c := range page {
			if !v.tail.take(c.Seq) {
				continue
			}
			switch c.Kind {
			case store.ChangeAccount:
				if err := v.refreshAccount(ctx, c.Subject, c.Seq); err != nil {
					v.tail.forget(c.Seq) // retried on the next poll
					return err
				}
			case store.ChangeLink:
				if err := v.refreshLink(ctx, c.Subject); err != nil {
					v.tail.forget(c.Seq) // retried on the next poll
					return err
				}
			case store.ChangeThrottle:
				if err := v.refreshLock(ctx, c.Subject); err != nil {
					v.tail.forget(c.Seq) // retried on the next poll
					return err
				}
			case store.ChangeKey:
				reloadKeys = true
			case store.ChangeIssuer:
				reloadIssuers = true
			case store.ChangeProfile:
				reloadProfiles = true
			default:
				v.mu.Lock()
				v.revoked.apply(c)
				if ev, ok := revocationEvent(c); ok {
					v.feed.append(c.Seq, ev)
				}
				v.mu.Unlock()
			}
		}
		if len(page) < 1000 {
			break
		}
	}
	v.tail.advance(start, v.opts.GapTimeout)
	if reloadIssuers {
		if err := v.loadIssuers(ctx); err != nil {
			return err
		}
	}
	if reloadProfiles {
		if err := v.loadProfiles(ctx); err != nil {
			return err
		}
	}
	if reloadKeys {
		ring, err := v.keys.Load(ctx)
		if err != nil {
			return fmt.Errorf("reload signing keys: %w", err)
		}
		old := v.ring.Swap(ring)
		v.mu.Lock()
		v.feed.append(v.tail.floor, v.keysWithdrawn(kids(old), kids(ring), start)...)
		v.mu.Unlock()
	}
	v.feed.setFloor(v.tail.floor)
	v.lastSync.Store(start.UnixNano())
	return nil
}

func (v *View) refreshAccount(ctx context.Context, id string, seq int64) error {
	a, err := v.store.GetAccount(ctx, store.AccountKey{ID: id})
	v.mu.Lock()
	defer v.mu.Unlock()
	var now *Account
	old := v.accounts[id]
	switch {
	case err == nil:
		now = fromStore(a)
		v.accounts[id] = now
		delete(v.deleted, id)
	case isNotFound(err):
		delete(v.accounts, id)
		v.deleted[id] = v.now()
	default:
		return err
	}
	v.indexClientLocked(id, old, now)
	v.feed.append(seq, stateEvent(id, now, v.now()))
	return nil
}

// Run polls until ctx ends, and prunes the change log now and then. Errors
// are logged; the last good view keeps serving.
func (v *View) Run(ctx context.Context) {
	t := time.NewTicker(v.opts.PollInterval)
	defer t.Stop()
	defer v.feed.close() // watchers end: nobody follows the change log any more
	lastPrune := time.Time{}
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := v.Poll(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				v.log.Error("view: reading the change log failed; serving the last good view", "err", err)
			}
			failing = true
			continue
		}
		if failing {
			v.log.Info("view: change log readable again")
			failing = false
		}
		if now := v.now(); now.Sub(lastPrune) >= time.Hour {
			lastPrune = now
			v.prune(ctx, now)
		}
	}
}

func (v *View) prune(ctx context.Context, now time.Time) {
	cutoff := now.Add(-v.opts.Retention)
	if n, err := v.store.PruneChanges(ctx, cutoff); err != nil {
		v.log.Warn("view: pruning the change log failed", "err", err)
	} else if n > 0 {
		v.log.Debug("view: pruned change log", "rows", n)
	}
	v.mu.Lock()
	for id, at := range v.deleted {
		if at.Before(cutoff) {
			delete(v.deleted, id)
		}
	}
	v.revoked.prune(cutoff)
	v.pruneLocksLocked(now)
	for kid, at := range v.withdrawn {
		if at.Before(cutoff) {
			delete(v.withdrawn, kid)
		}
	}
	v.mu.Unlock()
}

func fromStore(a store.Account) *Account {
	return &Account{
		Kind:     a.Kind,
		Username: a.Username,
		ClientID: a.ClientID,
		Email:    a.Email,
		Active:   a.Active,
		Roles:    a.Roles,

		DisplayName: a.DisplayName,
		SecretHash:  a.SecretHash,
		Audiences:   a.Audiences,
	}
}
