package federation

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/store"
)

// BenchmarkVerify is the hot path: keys cached, an Entra v2 user token.
func BenchmarkVerify(b *testing.B) {
	idp := fakeidp.New(b)
	ti := v2Issuer(idp)
	ti.RoleMap = map[string][]string{"b1c0ffee-0000-4000-8000-000000000001": {"staff"}}
	v := New(Options{}, discardLogger(), nil)
	b.Cleanup(v.Close)
	v.SetIssuers([]store.TrustedIssuer{ti})
	token := idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""))
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, token); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkKeyLookup compares the hot-path key lookup (the prebuilt
// keySet) with what a per-token jwk.Cache.Get would cost (Get, kid lookup,
// gatehouse's key policy): the reason Verify never calls the cache.
func BenchmarkKeyLookup(b *testing.B) {
	idp := fakeidp.New(b)
	v := New(Options{}, discardLogger(), nil)
	b.Cleanup(v.Close)
	v.SetIssuers([]store.TrustedIssuer{v1Issuer(idp)})
	ctx := context.Background()
	if _, err := v.Verify(ctx, idp.Token(idp.DefaultClaims(idp.IssuerV1(), ""))); err != nil {
		b.Fatal(err)
	}
	ks := v.lookup(idp.IssuerV1()).ks
	kid := idp.KID()
	b.Run("keySet", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			set, _ := ks.current()
			if _, ok := set.find(kid, jose.RS256); !ok {
				b.Fatal("not found")
			}
		}
	})
	b.Run("jwk.Cache.Get", func(b *testing.B) {
		ks.mu.RLock()
		key := ks.regKey
		ks.mu.RUnlock()
		b.ReportAllocs()
		for b.Loop() {
			set, err := v.cache.Get(ctx, key)
			if err != nil {
				b.Fatal(err)
			}
			j, ok := set.LookupKeyID(kid)
			if !ok {
				b.Fatal("not found")
			}
			if _, err := jose.ParseJWK(j); err != nil {
				b.Fatal(err)
			}
		}
	})
}
