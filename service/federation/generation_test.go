package federation

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/store"
)

// TestGeneration: the Generation of an issuer changes exactly when what
// verifies its tokens changes — its key set or its configuration — so that a
// cache keyed by it never serves a token verified with a removed key.
func TestGeneration(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(h *harness, idp *fakeidp.IdP, ti store.TrustedIssuer)
		changed bool
		trusted bool
	}{
		{"refetch of the same JWKS", func(h *harness, idp *fakeidp.IdP, ti store.TrustedIssuer) {
			mustRefresh(h, ti.Issuer)
		}, false, true},
		{"same issuers set again", func(h *harness, idp *fakeidp.IdP, ti store.TrustedIssuer) {
			h.v.SetIssuers([]store.TrustedIssuer{ti})
		}, false, true},
		{"key added (rotation keeping the old key)", func(h *harness, idp *fakeidp.IdP, ti store.TrustedIssuer) {
			idp.RotateKeys(true)
			mustRefresh(h, ti.Issuer)
		}, true, true},
		{"key replaced", func(h *harness, idp *fakeidp.IdP, ti store.TrustedIssuer) {
			idp.RotateKeys(false)
			mustRefresh(h, ti.Issuer)
		}, true, true},
		{"configuration changed", func(h *harness, idp *fakeidp.IdP, ti store.TrustedIssuer) {
			ti.Audiences = append(ti.Audiences, "api://other")
			h.v.SetIssuers([]store.TrustedIssuer{ti})
		}, true, true},
		{"issuer removed", func(h *harness, idp *fakeidp.IdP, ti store.TrustedIssuer) {
			h.v.SetIssuers(nil)
		}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp := fakeidp.New(t)
			ti := v1Issuer(idp)
			h := newHarness(t, Options{}, ti)
			h.mustVerify(idp.Token(idp.DefaultClaims(ti.Issuer, ""))) // first fetch
			before, ok := h.v.Generation(ti.Issuer)
			if !ok {
				t.Fatal("Generation of a trusted issuer: not ok")
			}
			tc.change(h, idp, ti)
			after, ok := h.v.Generation(ti.Issuer)
			if ok != tc.trusted {
				t.Fatalf("Generation ok = %v, want %v", ok, tc.trusted)
			}
			if got := after != before; got != tc.changed {
				t.Errorf("generation changed = %v, want %v (%+v → %+v)", got, tc.changed, before, after)
			}
		})
	}
}

func mustRefresh(h *harness, iss string) {
	h.t.Helper()
	if err := h.refreshNow(iss); err != nil {
		h.t.Fatalf("refresh: %v", err)
	}
}

// TestRecheck: a token verified earlier is refused once it expires, and its
// identity is extracted again.
func TestRecheck(t *testing.T) {
	clock := newClock()
	idp := fakeidp.New(t, fakeidp.WithClock(clock.Now))
	ti := v1Issuer(idp)
	h := newHarnessClock(t, clock, Options{}, ti)
	v := h.mustVerify(idp.Token(idp.DefaultClaims(ti.Issuer, "")))
	again, err := h.v.Recheck(v)
	if err != nil {
		t.Fatalf("Recheck of a valid token: %v", err)
	}
	if again.Subject != v.Subject || len(again.Identities) != len(v.Identities) {
		t.Errorf("Recheck = %+v, want %+v", again, v)
	}
	clock.Advance(v.ExpiresAt.Sub(clock.Now()) + DefaultLeeway + time.Second)
	if _, err := h.v.Recheck(v); err == nil {
		t.Error("Recheck accepted an expired token")
	}
}
