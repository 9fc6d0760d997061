package core

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/keys"
)

func TestVerifyCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ringA, ringB := &keys.Ring{}, &keys.Ring{}
	key := func(i int) [sha256.Size]byte { return sha256.Sum256(fmt.Appendf(nil, "token-%d", i)) }
	c := newVerifyCache(8)
	c.put(key(1), ringA, &accessClaims{Subject: "s1", ExpiresAt: now.Unix() + 60}, now)
	if got, ok := c.get(key(1), ringA); !ok || got.Subject != "s1" {
		t.Fatalf("get = %v, %v", got, ok)
	}
	if _, ok := c.get(key(1), ringB); ok {
		t.Error("an entry verified with another key ring was used")
	}
	if _, ok := c.get(key(2), ringA); ok {
		t.Error("hit for a token never put")
	}
	// Filling past the bound evicts, expired entries first; the size stays bounded.
	c.put(key(2), ringA, &accessClaims{Subject: "expired", ExpiresAt: now.Unix() - 1}, now)
	for i := 3; i < 40; i++ {
		c.put(key(i), ringA, &accessClaims{ExpiresAt: now.Unix() + 60}, now)
		if len(c.entries) > 8 {
			t.Fatalf("cache grew to %d entries, bound is 8", len(c.entries))
		}
	}
	if _, ok := c.get(key(2), ringA); ok {
		t.Error("expired entry survived eviction")
	}
	// A disabled cache is a nil cache and answers nothing.
	var off *verifyCache = newVerifyCache(0)
	off.put(key(1), ringA, &accessClaims{}, now)
	if _, ok := off.get(key(1), ringA); ok {
		t.Error("disabled cache returned an entry")
	}
}
