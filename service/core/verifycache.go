package core

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/service/keys"
)

// verifyCache remembers tokens whose signature already verified, so that a
// service validating the same bearer token on every request pays for one
// ECDSA verification per token, not per request. Only the signature and the
// decoding are cached: time claims, audience, roles and the account's state
// are checked on every call. An entry is only used with the key ring it was
// verified against, so any key change (rotation, revocation) invalidates it.
type verifyCache struct {
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]verified
	max     int
	// hits and misses count lookups, for the hit-ratio metric.
	hits, misses atomic.Uint64
}

type verified struct {
	ring   *keys.Ring
	claims *accessClaims
}

func newVerifyCache(max int) *verifyCache {
	if max <= 0 {
		return nil
	}
	return &verifyCache{entries: make(map[[sha256.Size]byte]verified), max: max}
}

// get returns the claims of a token verified with ring.
func (c *verifyCache) get(key [sha256.Size]byte, ring *keys.Ring) (*accessClaims, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	v, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || v.ring != ring {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return v.claims, true
}

// VerifyCacheStats returns how many validations found their token's
// verified signature in the cache (hits) and how many had to verify it
// (misses); both stay 0 when the cache is disabled.
func (s *Service) VerifyCacheStats() (hits, misses uint64) {
	if s.cache == nil {
		return 0, 0
	}
	return s.cache.hits.Load(), s.cache.misses.Load()
}

// put stores verified claims, making room first by dropping expired entries
// and, if that is not enough, an arbitrary quarter of the rest.
func (c *verifyCache) put(key [sha256.Size]byte, ring *keys.Ring, claims *accessClaims, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, v := range c.entries {
			if v.ring != ring || now.Unix() > v.claims.ExpiresAt {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max*3/4 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = verified{ring: ring, claims: claims}
}
