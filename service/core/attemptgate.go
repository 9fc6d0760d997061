package core

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
)

// attemptGate lets one password attempt per (account, client IP) pair run
// at a time on this replica; the others wait their turn.
//
// The throttle counts an attempt before its password is checked (so that
// concurrent guesses cannot exceed the limit), which means attempts in
// flight look like failures until they finish. Without the gate a burst of
// correct logins of one user from one address, larger than the pair limit,
// would lock that user out. In turn each attempt reserves and gives back
// one count, so the pair never reaches its limit through right passwords,
// and a guesser gains nothing from parallel requests. Replicas sharing the
// database each run one attempt per pair at most, which stays below the
// pair limit for any sensible number of replicas.
//
// A queue is bounded in length and in waiting time; an attempt beyond
// either is refused with RESOURCE_EXHAUSTED and not counted (it never ran).
type attemptGate struct {
	mu    sync.Mutex
	pairs map[string]*gateTurn
}

// gateTurn is one pair's turn: a one-slot semaphore and how many attempts
// hold or wait for it (the entry is dropped when that reaches zero).
type gateTurn struct {
	slot  chan struct{}
	users int
}

// Bounds of a pair's queue. A person never has more than a handful of
// logins of one account in flight from one address; the bounds are there
// for scripts and floods.
const (
	maxPairQueue = 32
	maxPairWait  = 10 * time.Second
)

func newAttemptGate() *attemptGate { return &attemptGate{pairs: map[string]*gateTurn{}} }

// enter waits for key's turn and returns the function that ends it.
func (g *attemptGate) enter(ctx context.Context, key string) (leave func(), err error) {
	g.mu.Lock()
	t := g.pairs[key]
	if t == nil {
		t = &gateTurn{slot: make(chan struct{}, 1)}
		g.pairs[key] = t
	}
	if t.users > maxPairQueue {
		g.mu.Unlock()
		return nil, tooManyInFlight()
	}
	t.users++
	g.mu.Unlock()

	timer := time.NewTimer(maxPairWait)
	defer timer.Stop()
	select {
	case t.slot <- struct{}{}:
		return func() { <-t.slot; g.done(key, t) }, nil
	case <-timer.C:
		g.done(key, t)
		return nil, tooManyInFlight()
	case <-ctx.Done():
		g.done(key, t)
		return nil, errs.Wrap(errs.Unavailable, ctx.Err(), "the login was cancelled while waiting for earlier attempts")
	}
}

func (g *attemptGate) done(key string, t *gateTurn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.users--; t.users == 0 {
		delete(g.pairs, key)
	}
}

func tooManyInFlight() error {
	e := errs.New(errs.ResourceExhausted, "too many login attempts for this account from this address at once; try again shortly").WithOAuth("invalid_request")
	e.RetryAfter = time.Second
	return e
}
