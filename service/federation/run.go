package federation

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// Run fetches every issuer's JWKS and refreshes it when its cache lifetime
// ends (after a failure: MinRefetchInterval, doubling up to 5 min), until
// ctx ends. Fetches of different issuers run in parallel; Verify never waits
// for Run. Run returns once its fetches have stopped.
func (v *Verifier) Run(ctx context.Context) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		running = map[*keySource]bool{}
	)
	defer wg.Wait()
	for {
		now := v.now()
		var next time.Time
		for _, e := range v.entries() {
			ks := e.ks
			at := ks.due()
			if at.After(now) {
				if next.IsZero() || at.Before(next) {
					next = at
				}
				continue
			}
			mu.Lock()
			busy := running[ks]
			running[ks] = true
			mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = v.refresh(ctx, ctx, ks, func() error {
					if ks.due().After(v.now()) {
						return errSkip // a Verify-triggered fetch just ran
					}
					return nil
				})
				mu.Lock()
				delete(running, ks)
				mu.Unlock()
				v.poke()
			}()
		}
		sleep := v.maxSleep
		if !next.IsZero() {
			sleep = min(sleep, max(next.Sub(now), time.Millisecond))
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-v.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// due is when ks should be fetched next (zero: now).
func (ks *keySource) due() time.Time {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.nextRefresh
}

// IssuerStatus is the key-fetching state of one trusted issuer.
type IssuerStatus struct {
	Issuer string
	// JWKSURI is the configured jwks_uri, or the discovered one ("" until
	// discovery succeeded); Discovered tells which.
	JWKSURI    string
	Discovered bool
	// Keys is the number of cached keys, KeyIDs their kids.
	Keys   int
	KeyIDs []string
	// LastSuccess is the last fetch that succeeded (200 or 304); zero if
	// none did.
	LastSuccess time.Time
	LastAttempt time.Time
	// LastError describes the last fetch if it failed, else "".
	LastError           string
	ConsecutiveFailures int
	// NextRefresh is when Run fetches again.
	NextRefresh time.Time
}

// Status reports, per issuer ordered by issuer, the last successful fetch,
// the last error and the cached keys.
func (v *Verifier) Status() []IssuerStatus {
	entries := v.entries()
	out := make([]IssuerStatus, 0, len(entries))
	for _, e := range entries {
		ks := e.ks
		ks.mu.RLock()
		st := IssuerStatus{
			Issuer:              ks.issuer,
			JWKSURI:             ks.explicitURI,
			Keys:                ks.set.len(),
			KeyIDs:              ks.set.kids(),
			LastSuccess:         ks.lastSuccess,
			LastAttempt:         ks.lastAttempt,
			LastError:           ks.lastErr,
			ConsecutiveFailures: ks.failures,
			NextRefresh:         ks.nextRefresh,
		}
		if ks.explicitURI == "" {
			st.JWKSURI, st.Discovered = ks.jwksURI, true
		}
		ks.mu.RUnlock()
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b IssuerStatus) int { return strings.Compare(a.Issuer, b.Issuer) })
	return out
}

// isCancel reports whether err comes from ctx being cancelled (not from a
// timeout), i.e. Run stopping.
func isCancel(ctx context.Context, err error) bool {
	return errors.Is(ctx.Err(), context.Canceled) && errors.Is(err, context.Canceled)
}
