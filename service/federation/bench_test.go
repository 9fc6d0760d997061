package federation

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/store"
)

// BenchmarkVerify is the hot path: keys cached, an Entra v2 user token.
func BenchmarkVerify(b *testing.B) {
	idp := fakeidp.New(b)
	ti := v2Issuer(idp)
	ti.RoleMap = map[string][]string{"b1c0ffee-0000-4000-8000-000000000001": {"staff"}}
	v := New(Options{}, discardLogger(), nil)
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
