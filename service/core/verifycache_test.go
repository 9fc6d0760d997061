package core

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/federation"
	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/store"
)

func cacheKey(i int) [sha256.Size]byte { return sha256.Sum256(fmt.Appendf(nil, "token-%d", i)) }

func TestVerifyCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ringA, ringB := &keys.Ring{}, &keys.Ring{}
	c := newVerifyCache(8)
	c.put(cacheKey(1), ringA, &accessClaims{Subject: "s1", ExpiresAt: now.Unix() + 60}, now)
	for _, tc := range []struct {
		name    string
		key     int
		ring    *keys.Ring
		hit     bool
		subject string
	}{
		{"same ring", 1, ringA, true, "s1"},
		{"key ring changed", 1, ringB, false, ""},
		{"never put", 2, ringA, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := c.get(cacheKey(tc.key), tc.ring)
			if ok != tc.hit || (ok && got.Subject != tc.subject) {
				t.Errorf("get = %v, %v; want hit %v subject %q", got, ok, tc.hit, tc.subject)
			}
		})
	}
	if h, m := c.hits.Load(), c.misses.Load(); h != 1 || m != 2 {
		t.Errorf("hits, misses = %d, %d; want 1, 2", h, m)
	}
	// A disabled cache is a nil cache and answers nothing.
	off := newVerifyCache(0)
	off.put(cacheKey(1), ringA, &accessClaims{}, now)
	off.putForeign(cacheKey(1), federation.Generation{}, &federation.Verified{})
	if _, ok := off.get(cacheKey(1), ringA); ok {
		t.Error("disabled cache returned an entry")
	}
	if _, ok := off.getForeign(cacheKey(1), federation.Generation{}); ok {
		t.Error("disabled cache returned a foreign entry")
	}
}

// TestVerifyCacheEviction: the cache never holds more than its size, a new
// token evicts the least recently used one, and a token in use stays.
func TestVerifyCacheEviction(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ring := &keys.Ring{}
	for _, size := range []int{1, 8, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := newVerifyCache(size)
			hot := cacheKey(-1)
			c.put(hot, ring, &accessClaims{Subject: "hot"}, now)
			for i := range 3 * size {
				if size > 1 {
					c.get(hot, ring) // in use: must survive
				}
				c.put(cacheKey(i), ring, &accessClaims{}, now)
				if n := c.len(); n > size {
					t.Fatalf("cache grew to %d entries, bound is %d", n, size)
				}
			}
			if size > 1 {
				if _, ok := c.get(hot, ring); !ok {
					t.Error("the token in use was evicted")
				}
			}
			last := cacheKey(3*size - 1)
			if _, ok := c.get(last, ring); !ok {
				t.Error("the newest token was evicted")
			}
			if _, ok := c.get(cacheKey(0), ring); ok {
				t.Error("the oldest unused token survived")
			}
		})
	}
}

// TestVerifyCacheKinds: gatehouse's and trusted issuers' entries never
// answer for each other, and a foreign entry is counted by getForeign only.
func TestVerifyCacheKinds(t *testing.T) {
	ring := &keys.Ring{}
	g1 := federation.Generation{}
	c := newVerifyCache(8)
	c.putForeign(cacheKey(1), g1, &federation.Verified{Subject: "f"})
	c.put(cacheKey(2), ring, &accessClaims{Subject: "l"}, time.Time{})
	if _, ok := c.get(cacheKey(1), ring); ok {
		t.Error("get answered with a foreign entry")
	}
	if _, ok := c.getForeign(cacheKey(2), g1); ok {
		t.Error("getForeign answered with a local entry")
	}
	if v, ok := c.getForeign(cacheKey(1), g1); !ok || v.Subject != "f" {
		t.Errorf("getForeign = %v, %v", v, ok)
	}
	if h, m := c.hits.Load(), c.misses.Load(); h != 1 || m != 1 {
		t.Errorf("hits, misses = %d, %d; want 1, 1", h, m)
	}
}

// TestVerifyForeignCache runs trusted issuers' tokens through the cache
// with a real Verifier and IdP: a repeated token skips the signature, an
// expired one is refused even when cached, and a key rotation that removes
// the signing key invalidates its cached tokens.
func TestVerifyForeignCache(t *testing.T) {
	for _, tc := range []struct {
		name string
		// change happens between the first (cached) and the second use of
		// the token; ok is whether the second use succeeds, hit whether it
		// comes from the cache.
		change  func(t *testing.T, env *foreignEnv)
		ok, hit bool
	}{
		{"repeated", func(*testing.T, *foreignEnv) {}, true, true},
		{"expired", func(t *testing.T, env *foreignEnv) {
			env.advance(time.Hour + federation.DefaultLeeway + time.Second)
		}, false, true},
		{"key rotated away", func(t *testing.T, env *foreignEnv) {
			env.idp.RotateKeys(false)
			// A token with the new kid makes the Verifier refetch the JWKS.
			if _, err := env.s.verifyForeign(context.Background(), env.token()); err != nil {
				t.Fatalf("token with the new key: %v", err)
			}
		}, false, false},
		{"issuer reconfigured", func(t *testing.T, env *foreignEnv) {
			env.ti.Audiences = append(env.ti.Audiences, "api://another")
			env.fed.SetIssuers([]store.TrustedIssuer{env.ti})
		}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newForeignEnv(t)
			tok := env.token()
			ctx := context.Background()
			if _, err := env.s.verifyForeign(ctx, tok); err != nil {
				t.Fatalf("first use: %v", err)
			}
			tc.change(t, env)
			hits := env.s.cache.hits.Load()
			v, err := env.s.verifyForeign(ctx, tok)
			if (err == nil) != tc.ok {
				t.Fatalf("second use: %v, %v; want ok %v", v, err, tc.ok)
			}
			if hit := env.s.cache.hits.Load() > hits; hit != tc.hit {
				t.Errorf("second use hit the cache: %v, want %v", hit, tc.hit)
			}
		})
	}
}

type foreignEnv struct {
	idp *fakeidp.IdP
	fed *federation.Verifier
	ti  store.TrustedIssuer
	s   *Service

	mu  sync.Mutex
	now time.Time
}

func newForeignEnv(t *testing.T) *foreignEnv {
	env := &foreignEnv{now: time.Now().UTC().Truncate(time.Second)}
	env.idp = fakeidp.New(t, fakeidp.WithClock(env.clock))
	env.ti = store.TrustedIssuer{ID: "corp", Issuer: env.idp.IssuerV1(), JWKSURI: env.idp.JWKSURI(), Audiences: []string{env.idp.Audience()}}
	env.fed = federation.New(federation.Options{MinRefetchInterval: time.Millisecond}, slog.New(slog.DiscardHandler), env.clock)
	t.Cleanup(env.fed.Close)
	env.fed.SetIssuers([]store.TrustedIssuer{env.ti})
	env.s = &Service{fed: env.fed, cache: newVerifyCache(16)}
	// The first token fetches the keys, which changes the generation it
	// was stored under: a warm-up, as after every start.
	if _, err := env.s.verifyForeign(context.Background(), env.token()); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	return env
}

func (env *foreignEnv) clock() time.Time {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.now
}

func (env *foreignEnv) advance(d time.Duration) {
	env.mu.Lock()
	env.now = env.now.Add(d)
	env.mu.Unlock()
}

func (env *foreignEnv) token() string {
	return env.idp.Token(env.idp.DefaultClaims(env.ti.Issuer, ""))
}
