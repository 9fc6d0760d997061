package core

import (
	"crypto/sha256"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/gatehouse/gatehouse/service/federation"
	"github.com/gatehouse/gatehouse/service/keys"
)

// verifyCache remembers tokens whose signature already verified, so that a
// service validating the same bearer token on every request pays for one
// signature verification per token, not per request. It holds gatehouse's
// own access tokens and trusted issuers' tokens alike, keyed by the token's
// SHA-256. Only the signature and the decoding are cached: time claims,
// audience, roles and the account's state are checked on every call. An
// entry is only used with what it was verified against — the key ring for
// gatehouse's tokens, the issuer's federation.Generation for foreign ones —
// so any key change (rotation, revocation, a changed JWKS) invalidates it.
//
// The bound is a least-recently-used list (O(1) per operation): tokens in
// use stay, the coldest one leaves when a new one arrives.
type verifyCache struct {
	lru *lru.Cache[[sha256.Size]byte, verified]
	// hits and misses count lookups, for the hit-ratio metric.
	hits, misses atomic.Uint64
}

// verified is one cache entry: local (ring, claims) or foreign (gen,
// foreign).
type verified struct {
	ring   *keys.Ring
	claims *accessClaims

	gen     federation.Generation
	foreign *federation.Verified
}

func newVerifyCache(size int) *verifyCache {
	if size <= 0 {
		return nil
	}
	c, err := lru.New[[sha256.Size]byte, verified](size)
	if err != nil { // only for size <= 0, excluded above
		panic(err)
	}
	return &verifyCache{lru: c}
}

// get returns the claims of a gatehouse token verified with ring. A trusted
// issuer's entry is left to getForeign, which counts it.
func (c *verifyCache) get(key [sha256.Size]byte, ring *keys.Ring) (*accessClaims, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.lru.Get(key)
	switch {
	case ok && v.foreign != nil:
		return nil, false
	case !ok || v.ring != ring:
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return v.claims, true
}

// put stores the verified claims of a gatehouse token. Expired tokens
// need no sweep: checkClaims refuses them and newer tokens push them out.
func (c *verifyCache) put(key [sha256.Size]byte, ring *keys.Ring, claims *accessClaims, _ time.Time) {
	if c == nil {
		return
	}
	c.lru.Add(key, verified{ring: ring, claims: claims})
}

// getForeign returns a trusted issuer's token verified under gen. It runs
// after get (ValidateToken tries gatehouse's keys first), which counted an
// absent entry already; getForeign counts hits and stale entries.
func (c *verifyCache) getForeign(key [sha256.Size]byte, gen federation.Generation) (*federation.Verified, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.lru.Get(key)
	switch {
	case !ok:
		return nil, false
	case v.foreign == nil || v.gen != gen:
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return v.foreign, true
}

// putForeign stores a trusted issuer's token that verified under gen.
func (c *verifyCache) putForeign(key [sha256.Size]byte, gen federation.Generation, v *federation.Verified) {
	if c == nil {
		return
	}
	c.lru.Add(key, verified{gen: gen, foreign: v})
}

// len is the number of entries (0 when disabled).
func (c *verifyCache) len() int {
	if c == nil {
		return 0
	}
	return c.lru.Len()
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
