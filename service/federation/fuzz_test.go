package federation

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/store"
)

// FuzzVerifyClaims feeds arbitrary payloads, signed by the trusted IdP,
// through Verify and through the claims check directly. Nothing may panic;
// errors are *errs.Error of the two documented kinds; what is accepted
// satisfies the issuer's rules.
func FuzzVerifyClaims(f *testing.F) {
	clock := newClock()
	idp := fakeidp.New(f, fakeidp.WithClock(clock.Now))
	now := clock.Now().Unix()
	iss := idp.IssuerV2()
	aud := idp.Audience()
	ti := v2Issuer(idp)
	ti.RoleMap = map[string][]string{"g1": {"b", "a"}, "g2": {"a"}, "": {"empty"}}
	cfg := WithDefaults(ti)

	seed, _ := json.Marshal(idp.DefaultClaims(iss, ""))
	f.Add(seed)
	app, _ := json.Marshal(idp.AppClaims(iss, "", "client"))
	f.Add(app)
	for _, s := range []string{
		`{}`, `[]`, `null`, `"x"`, `{"iss":null}`,
		`{"iss":"` + iss + `","aud":"` + aud + `","exp":` + itoa(now+60) + `,"iat":` + itoa(now) + `}`,
		`{"iss":"` + iss + `","aud":["` + aud + `",null],"exp":1e400,"iat":-1e400}`,
		`{"iss":"` + iss + `","aud":["x","` + aud + `"],"exp":99999999999999999999,"iat":0,"nbf":1.5}`,
		`{"iss":"` + iss + `","aud":"` + aud + `","exp":"1","iat":true}`,
		`{"iss":"` + iss + `","aud":"` + aud + `","exp":` + itoa(now+60) + `,"iat":` + itoa(now) + `,"groups":["g1",["g2"],{"a":1},"g2",""],"roles":"g2","email":"","upn":{},"azp":"c","sub":["x"]}`,
		`{"iss":"` + iss + `","aud":{"` + aud + `":1},"exp":` + itoa(now+60) + `,"iat":` + itoa(now) + `}`,
		`{"iss":"` + iss + `","AUD":"x","aud":"` + aud + `"}`,
		`{"iss":"` + iss + `","aud":"` + aud + `","exp":` + itoa(now+60) + `,"iat":` + itoa(now) + `,"nbf":-0.0000001,"preferred_username":"service-account-x","appid":"a"}`,
	} {
		f.Add([]byte(s))
	}

	h := newHarnessForFuzz(f, clock, ti)
	f.Fuzz(func(t *testing.T, payload []byte) {
		// The claims stage alone, on anything that decodes as an object.
		var direct *Verified
		var directErr error
		if claims, err := decodeClaims(payload); err == nil {
			direct, directErr = checkClaims(cfg, claims, clock.Now())
			checkOutcome(t, cfg, direct, directErr, clock.Now())
		}

		// The whole path, with a valid signature.
		token := idp.SignPayload(payload)
		got, err := h.verify(token)
		if len(token) > 8<<10 {
			if err == nil {
				t.Fatal("accepted an oversized token")
			}
			return
		}
		checkOutcome(t, cfg, got, err, clock.Now())
		if err == nil {
			if direct == nil {
				t.Fatalf("Verify accepted what the claims check refused: %v", directErr)
			}
			if !slices.Equal(got.Roles, direct.Roles) || !slices.Equal(got.Identities, direct.Identities) {
				t.Fatalf("Verify and the claims check disagree: %+v vs %+v", got, direct)
			}
		}
	})
}

// checkOutcome checks the invariants of an accepted token, and the error
// type of a refused one.
func checkOutcome(t *testing.T, cfg store.TrustedIssuer, v *Verified, err error, now time.Time) {
	t.Helper()
	if err != nil {
		e, ok := err.(*errs.Error)
		if !ok || (e.Kind != errs.Unauthenticated && e.Kind != errs.InvalidArgument) {
			t.Fatalf("error %v (%T) is not an Unauthenticated/InvalidArgument *errs.Error", err, err)
		}
		if v != nil {
			t.Fatal("both a result and an error")
		}
		return
	}
	auds, ok := stringOrStrings(v.Claims["aud"])
	if !ok || !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(cfg.Audiences, a) }) {
		t.Fatalf("accepted aud %v", v.Claims["aud"])
	}
	for _, c := range cfg.RequiredClaims {
		if v.Claims[c] == nil {
			t.Fatalf("accepted without %s", c)
		}
	}
	if v.ExpiresAt.IsZero() || !now.Before(v.ExpiresAt.Add(cfg.Leeway)) {
		t.Fatalf("accepted exp %v at %v", v.ExpiresAt, now)
	}
	if v.IssuedAt.IsZero() || now.Add(cfg.Leeway).Before(v.IssuedAt) {
		t.Fatalf("accepted iat %v at %v", v.IssuedAt, now)
	}
	if nbf, present := v.Claims["nbf"]; present && nbf != nil {
		at, ok := numericDate(nbf)
		if !ok || now.Add(cfg.Leeway).Before(at) {
			t.Fatalf("accepted nbf %v at %v", nbf, now)
		}
	}
	if !slices.IsSorted(v.Roles) || len(slices.Compact(slices.Clone(v.Roles))) != len(v.Roles) || slices.Contains(v.Roles, "") {
		t.Fatalf("roles %q are not sorted, unique and non-empty", v.Roles)
	}
	user := false
	for _, id := range v.Identities {
		if id.Value == "" || id.ServicePrincipal != isServicePrincipalClaim(id.Claim) {
			t.Fatalf("bad identity %+v", id)
		}
		user = user || !id.ServicePrincipal
	}
	if user && slices.ContainsFunc(v.Identities, func(id Identity) bool { return id.ServicePrincipal }) {
		t.Fatalf("a user token yields service-principal identities: %+v", v.Identities)
	}
	for _, g := range v.Groups {
		if g == "" {
			t.Fatal("empty group")
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// newHarnessForFuzz builds a Verifier for a fuzz target (which has no
// *testing.T) and caches the IdP's keys.
func newHarnessForFuzz(f *testing.F, clock *fakeClock, ti store.TrustedIssuer) *harness {
	h := &harness{clock: clock}
	h.v = New(Options{}, discardLogger(), clock.Now)
	f.Cleanup(h.v.Close)
	h.v.SetIssuers([]store.TrustedIssuer{ti})
	return h
}
