package federation

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// Run fetches every issuer's JWKS once, as soon as it is configured, and
// retries (every MinRefetchInterval) issuers whose keys were never fetched.
// Later refreshes are the jwk.Cache's: it refetches each JWKS when its
// cache lifetime ends and retries failures after MinRefetchInterval. Run
// also reads discovery documents again (daily, and during a failure
// streak), moving to a new jwks_uri when it changed. Verify never waits for
// Run. When ctx ends, Run stops its fetches, closes the Verifier (see
// Close) and returns.
func (v *Verifier) Run(ctx context.Context) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		running = map[*keySource]bool{}
	)
	defer v.Close()
	defer wg.Wait()
	for {
		now := v.now()
		for _, e := range v.entries() {
			ks := e.ks
			if !v.runDue(ks, now) {
				continue
			}
			mu.Lock()
			busy := running[ks]
			running[ks] = true
			mu.Unlock()
			if busy {
				continue
			}
			_, fetched := ks.current()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = v.refresh(ctx, ks, fetched, func() error {
					if !v.runDue(ks, v.now()) {
						return errSkip // a Verify-triggered fetch just ran
					}
					return nil
				})
				mu.Lock()
				delete(running, ks)
				mu.Unlock()
			}()
		}
		t := time.NewTimer(v.maxSleep)
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

// runDue reports whether Run should fetch ks now: never fetched (at most
// once per MinRefetchInterval), or discovery to be read again.
func (v *Verifier) runDue(ks *keySource, now time.Time) bool {
	retry := max(v.opts.MinRefetchInterval, time.Second)
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	switch {
	case ks.retired:
		return false
	case !ks.fetched:
		return ks.lastAttempt.IsZero() || now.Sub(ks.lastAttempt) >= retry
	case ks.explicitURI != "":
		return false // the jwk.Cache refreshes it
	case now.Sub(ks.discoveredAt) >= rediscoverAfter:
		return now.Sub(ks.discoveryTry) >= retry
	}
	return ks.failures > 0 && now.Sub(ks.discoveryTry) >= retry
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
	// none did. Times are on the Verifier's clock.
	LastSuccess time.Time
	LastAttempt time.Time
	// LastError describes the last fetch if it failed, else "".
	LastError           string
	ConsecutiveFailures int
	// NextRefresh is about when the jwk.Cache fetches again: the clamped
	// cache lifetime after a success, MinRefetchInterval after a failure.
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
