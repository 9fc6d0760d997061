package federation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/store"
)

// TestVerify covers the claim, identity, group and algorithm cases of one
// Entra ID tenant trusted as v1.0 (explicit jwks_uri) and v2.0 (discovery).
func TestVerify(t *testing.T) {
	clock := newClock()
	idp := fakeidp.New(t, fakeidp.WithClock(clock.Now))
	roleMap := map[string][]string{
		"g-admins":  {"user-lookup", "admin"}, // one group → several roles
		"g-ops":     {"operator"},             // several groups → one role
		"g-sre":     {"operator"},
		"Reader":    {"reader"}, // an app role (roles claim)
		"g-nothing": nil,
	}
	v1, v2 := v1Issuer(idp), v2Issuer(idp)
	v1.RoleMap, v2.RoleMap = roleMap, roleMap

	type tc struct {
		name   string
		iss    string                          // default v2
		claims func(c map[string]any)          // changes DefaultClaims
		app    string                          // non-empty: AppClaims with this client id
		opts   []fakeidp.TokenOption           // token options
		cfg    func(ti *store.TrustedIssuer)   // changes the trusted issuer
		token  func(idp *fakeidp.IdP) string   // replaces the whole token
		kind   errs.Kind                       // expected error kind
		errHas []string                        // expected error parts; nil: success
		check  func(t *testing.T, v *Verified) // on success
	}
	now := clock.Now().Unix()
	ids := func(v *Verified) []Identity { return v.Identities }
	cases := []tc{
		{name: "user by email", check: func(t *testing.T, v *Verified) {
			want := []Identity{{"email", "ada@example.com", false}, {"preferred_username", "ada@example.com", false}, {"upn", "ada@example.com", false}}
			if !slices.Equal(ids(v), want) {
				t.Errorf("identities = %v, want %v (azp must be dropped from a user token)", ids(v), want)
			}
			if v.Subject != "sXjE6ZbVv1y1wW3Kq3o5Qx4d1a7nHj2Q0t8uYcRkLmA" || v.Issuer.Issuer != idp.IssuerV2() {
				t.Errorf("subject %q issuer %q", v.Subject, v.Issuer.Issuer)
			}
			if !v.ExpiresAt.Equal(clock.Now().Add(time.Hour)) || !v.IssuedAt.Equal(clock.Now()) {
				t.Errorf("iat %v exp %v", v.IssuedAt, v.ExpiresAt)
			}
			if v.Claims["tid"] != idp.Tenant() {
				t.Errorf("claims tid = %v", v.Claims["tid"])
			}
		}},
		{name: "user by preferred_username", claims: func(c map[string]any) { delete(c, "email") }, check: func(t *testing.T, v *Verified) {
			if len(v.Identities) == 0 || v.Identities[0] != (Identity{"preferred_username", "ada@example.com", false}) {
				t.Errorf("identities = %v", v.Identities)
			}
		}},
		{name: "user by upn (v1)", iss: "v1", claims: func(c map[string]any) { delete(c, "email") }, check: func(t *testing.T, v *Verified) {
			want := []Identity{{"upn", "ada@example.com", false}}
			if !slices.Equal(v.Identities, want) {
				t.Errorf("identities = %v, want %v", v.Identities, want)
			}
		}},
		{name: "empty email is skipped", claims: func(c map[string]any) { c["email"] = ""; c["upn"] = 7 }, check: func(t *testing.T, v *Verified) {
			want := []Identity{{"preferred_username", "ada@example.com", false}}
			if !slices.Equal(v.Identities, want) {
				t.Errorf("identities = %v, want %v", v.Identities, want)
			}
		}},
		{name: "service principal by appid (v1)", iss: "v1", app: "billing-app-id", check: func(t *testing.T, v *Verified) {
			want := []Identity{{"appid", "billing-app-id", true}}
			if !slices.Equal(v.Identities, want) {
				t.Errorf("identities = %v, want %v", v.Identities, want)
			}
			if v.Claims["ver"] != "1.0" {
				t.Errorf("ver = %v", v.Claims["ver"])
			}
		}},
		{name: "service principal by azp (v2)", app: "billing-app-id", check: func(t *testing.T, v *Verified) {
			want := []Identity{{"azp", "billing-app-id", true}}
			if !slices.Equal(v.Identities, want) {
				t.Errorf("identities = %v, want %v", v.Identities, want)
			}
		}},
		{name: "a service-account-like username is still a user", claims: func(c map[string]any) {
			for _, k := range []string{"email", "upn"} {
				delete(c, k)
			}
			c["preferred_username"] = "service-account-billing"
			c["azp"] = "billing"
		}, check: func(t *testing.T, v *Verified) {
			want := []Identity{{"preferred_username", "service-account-billing", false}}
			if !slices.Equal(v.Identities, want) {
				t.Errorf("identities = %v, want %v", v.Identities, want)
			}
		}},
		{name: "app-only token of another IdP: azp alone", claims: func(c map[string]any) {
			for _, k := range []string{"email", "upn", "preferred_username"} {
				delete(c, k)
			}
			c["azp"] = "billing"
		}, check: func(t *testing.T, v *Verified) {
			want := []Identity{{"azp", "billing", true}}
			if !slices.Equal(v.Identities, want) {
				t.Errorf("identities = %v, want %v", v.Identities, want)
			}
		}},
		{name: "custom identity claims", cfg: func(ti *store.TrustedIssuer) { ti.IdentityClaims = []string{"oid", "missing"} }, check: func(t *testing.T, v *Verified) {
			want := []Identity{{"oid", "5b9c1a0e-8f1d-4c07-9a3e-4d4b1f3a2c11", false}}
			if !slices.Equal(v.Identities, want) {
				t.Errorf("identities = %v, want %v", v.Identities, want)
			}
		}},
		{name: "one group maps to several roles", claims: func(c map[string]any) { c["groups"] = []string{"g-admins"}; delete(c, "roles") }, check: func(t *testing.T, v *Verified) {
			if want := []string{"admin", "user-lookup"}; !slices.Equal(v.Roles, want) {
				t.Errorf("roles = %v, want %v", v.Roles, want)
			}
		}},
		{name: "several groups map to one role", claims: func(c map[string]any) { c["groups"] = []string{"g-ops", "g-sre", "g-unknown"} }, check: func(t *testing.T, v *Verified) {
			if want := []string{"operator", "reader"}; !slices.Equal(v.Roles, want) {
				t.Errorf("roles = %v, want %v", v.Roles, want)
			}
			if want := []string{"g-ops", "g-sre", "g-unknown", "Reader"}; !slices.Equal(v.Groups, want) {
				t.Errorf("groups = %v, want %v", v.Groups, want)
			}
		}},
		{name: "group claim as a string, unmapped groups", claims: func(c map[string]any) { c["groups"] = "g-nothing"; c["roles"] = []any{"x", 5, nil} }, check: func(t *testing.T, v *Verified) {
			if len(v.Roles) != 0 || !slices.Equal(v.Groups, []string{"g-nothing", "x"}) {
				t.Errorf("roles = %v groups = %v", v.Roles, v.Groups)
			}
		}},
		{name: "custom group claims", cfg: func(ti *store.TrustedIssuer) { ti.GroupClaims = []string{"wids"} }, claims: func(c map[string]any) { c["wids"] = []string{"g-admins"} }, check: func(t *testing.T, v *Verified) {
			if !slices.Equal(v.Roles, []string{"admin", "user-lookup"}) || !slices.Equal(v.Groups, []string{"g-admins"}) {
				t.Errorf("roles = %v groups = %v", v.Roles, v.Groups)
			}
		}},
		{name: "aud array containing ours", claims: func(c map[string]any) { c["aud"] = []string{"other", idp.Audience()} }},
		{name: "second configured audience", cfg: func(ti *store.TrustedIssuer) { ti.Audiences = []string{"x", idp.ClientID()} },
			claims: func(c map[string]any) { c["aud"] = idp.ClientID() }},
		{name: "wrong aud", claims: func(c map[string]any) { c["aud"] = "api://someone-else" },
			kind: errs.Unauthenticated, errHas: []string{idp.IssuerV2(), "another audience"}},
		{name: "aud array without ours", claims: func(c map[string]any) { c["aud"] = []string{"a", "b"} },
			kind: errs.Unauthenticated, errHas: []string{"another audience"}},
		{name: "aud not a string", claims: func(c map[string]any) { c["aud"] = []any{idp.Audience(), 1} },
			kind: errs.Unauthenticated, errHas: []string{"aud that is not a string"}},
		{name: "aud missing", claims: func(c map[string]any) { delete(c, "aud") },
			kind: errs.Unauthenticated, errHas: []string{"has no aud"}},
		{name: "no audience configured", cfg: func(ti *store.TrustedIssuer) { ti.Audiences = nil },
			kind: errs.Unauthenticated, errHas: []string{"no audience is configured"}},
		{name: "wrong iss (not trusted)", claims: func(c map[string]any) { c["iss"] = "https://evil.example.com/tenant/v2.0" },
			kind: errs.Unauthenticated, errHas: []string{"token issuer is not trusted"}},
		{name: "iss differs by a trailing slash", claims: func(c map[string]any) { c["iss"] = idp.IssuerV2() + "/" },
			kind: errs.Unauthenticated, errHas: []string{"token issuer is not trusted"}},
		{name: "no iss", claims: func(c map[string]any) { delete(c, "iss") },
			kind: errs.Unauthenticated, errHas: []string{"no issuer"}},
		{name: "expired", claims: func(c map[string]any) { c["exp"] = now - 61 },
			kind: errs.Unauthenticated, errHas: []string{idp.IssuerV2(), "expired"}},
		{name: "expired within leeway", claims: func(c map[string]any) { c["exp"] = now - 59 }},
		{name: "expired with custom leeway", cfg: func(ti *store.TrustedIssuer) { ti.Leeway = 5 * time.Second }, claims: func(c map[string]any) { c["exp"] = now - 10 },
			kind: errs.Unauthenticated, errHas: []string{"expired"}},
		{name: "nbf in the future beyond leeway", claims: func(c map[string]any) { c["nbf"] = now + 61 },
			kind: errs.Unauthenticated, errHas: []string{idp.IssuerV2(), "not valid yet"}},
		{name: "nbf in the future within leeway", claims: func(c map[string]any) { c["nbf"] = now + 59 }},
		{name: "iat in the future beyond leeway", claims: func(c map[string]any) { c["iat"] = now + 120 },
			kind: errs.Unauthenticated, errHas: []string{"issued in the future"}},
		{name: "fractional times", claims: func(c map[string]any) { c["exp"] = float64(now) + 0.5; c["iat"] = float64(now) - 0.25 }},
		{name: "exp not a number", claims: func(c map[string]any) { c["exp"] = "tomorrow" },
			kind: errs.Unauthenticated, errHas: []string{"exp that is not a number"}},
		{name: "exp required", claims: func(c map[string]any) { delete(c, "exp") },
			kind: errs.Unauthenticated, errHas: []string{`lacks the required claim "exp"`}},
		{name: "iat required", claims: func(c map[string]any) { c["iat"] = nil },
			kind: errs.Unauthenticated, errHas: []string{`lacks the required claim "iat"`}},
		{name: "custom required claims", cfg: func(ti *store.TrustedIssuer) { ti.RequiredClaims = []string{"exp", "tid", "acct"} },
			kind: errs.Unauthenticated, errHas: []string{`lacks the required claim "acct"`}},
		{name: "sub not a string", claims: func(c map[string]any) { c["sub"] = 42 },
			kind: errs.Unauthenticated, errHas: []string{"sub that is not a string"}},
		{name: "alg none", opts: []fakeidp.TokenOption{fakeidp.WithAlgNone()},
			kind: errs.Unauthenticated, errHas: []string{"alg none"}},
		{name: "alg NONE spelled oddly", opts: []fakeidp.TokenOption{fakeidp.WithAlgNone(), fakeidp.WithAlg("nOnE")},
			kind: errs.Unauthenticated, errHas: []string{"alg none"}},
		{name: "HS256 with the IdP's public key as the secret", token: func(idp *fakeidp.IdP) string {
			return idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""), fakeidp.WithHS256(idp.PublicKeyPEM()))
		}, kind: errs.Unauthenticated, errHas: []string{"alg is not supported"}},
		{name: "RS256 not allowed for this issuer", cfg: func(ti *store.TrustedIssuer) { ti.AllowedAlgs = []string{"ES256"} },
			kind: errs.Unauthenticated, errHas: []string{idp.IssuerV2(), "RS256, which is not allowed"}},
		{name: "claims RS256 but is ES256-shaped", opts: []fakeidp.TokenOption{fakeidp.WithAlg("ES256")},
			cfg:  func(ti *store.TrustedIssuer) { ti.AllowedAlgs = []string{"ES256", "RS256"} },
			kind: errs.Unauthenticated, errHas: []string{"does not verify"}},
		{name: "bad signature", opts: []fakeidp.TokenOption{fakeidp.WithBadSignature()},
			kind: errs.Unauthenticated, errHas: []string{idp.IssuerV2(), "does not verify"}},
		{name: "crit header", opts: []fakeidp.TokenOption{fakeidp.WithHeader("crit", []string{"exp"})},
			kind: errs.InvalidArgument, errHas: []string{"malformed", "crit"}},
		{name: "no kid, one key", opts: []fakeidp.TokenOption{fakeidp.WithKid("")}},
		{name: "malformed", token: func(*fakeidp.IdP) string { return "not.a.jwt!" },
			kind: errs.InvalidArgument, errHas: []string{"malformed"}},
		{name: "empty", token: func(*fakeidp.IdP) string { return "" },
			kind: errs.InvalidArgument, errHas: []string{"required"}},
		{name: "too large", token: func(*fakeidp.IdP) string { return strings.Repeat("a", 9000) },
			kind: errs.InvalidArgument, errHas: []string{"limit"}},
		{name: "payload not JSON", token: func(idp *fakeidp.IdP) string { return idp.SignPayload([]byte("hello")) },
			kind: errs.InvalidArgument, errHas: []string{"malformed"}},
		{name: "duplicate claims", token: func(idp *fakeidp.IdP) string {
			return idp.SignPayload([]byte(`{"iss":"` + idp.IssuerV2() + `","ISS":"x"}`))
		}, kind: errs.InvalidArgument, errHas: []string{"duplicate"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ti := v2
			if c.iss == "v1" {
				ti = v1
			}
			if c.cfg != nil {
				ti = WithDefaults(ti) // a deep copy
				c.cfg(&ti)
			}
			h := newHarnessClock(t, clock, Options{}, ti)
			var token string
			switch {
			case c.token != nil:
				token = c.token(idp)
			case c.app != "":
				token = idp.Token(idp.AppClaims(ti.Issuer, "", c.app), c.opts...)
			default:
				claims := idp.DefaultClaims(ti.Issuer, "")
				if c.claims != nil {
					c.claims(claims)
				}
				token = idp.Token(claims, c.opts...)
			}
			got, err := h.verify(token)
			if c.errHas != nil {
				wantErr(t, err, token, c.kind, c.errHas...)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.check != nil {
				c.check(t, got)
			}
			if !slices.IsSorted(got.Roles) || len(slices.Compact(slices.Clone(got.Roles))) != len(got.Roles) {
				t.Errorf("roles %v are not sorted and unique", got.Roles)
			}
		})
	}
}

// TestAttackerHeaders: jku, x5u and an embedded jwk are never used; the
// attacker's own IdP is never contacted.
func TestAttackerHeaders(t *testing.T) {
	idp := fakeidp.New(t)
	attacker := fakeidp.New(t)
	h := newHarness(t, Options{}, v2Issuer(idp))
	h.mustVerify(idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""))) // keys cached

	claims := idp.DefaultClaims(idp.IssuerV2(), "")
	attackerJWK := attacker.PublicJWK()
	cases := []struct {
		name   string
		opts   []fakeidp.TokenOption
		errHas string
	}{
		{"jku to the attacker's JWKS", []fakeidp.TokenOption{fakeidp.WithHeader("jku", attacker.JWKSURI())}, "unknown signing key for " + idp.IssuerV2()},
		{"jku with the victim's kid", []fakeidp.TokenOption{fakeidp.WithHeader("jku", attacker.JWKSURI()), fakeidp.WithKid(idp.KID())}, "does not verify"},
		{"x5u to the attacker", []fakeidp.TokenOption{fakeidp.WithHeader("x5u", attacker.JWKSURI())}, "unknown signing key"},
		{"embedded jwk", []fakeidp.TokenOption{fakeidp.WithHeader("jwk", attackerJWK)}, "unknown signing key"},
		{"embedded jwk with the victim's kid", []fakeidp.TokenOption{fakeidp.WithHeader("jwk", attackerJWK), fakeidp.WithKid(idp.KID())}, "does not verify"},
		{"embedded jwk without kid", []fakeidp.TokenOption{fakeidp.WithHeader("jwk", attackerJWK), fakeidp.WithKid("")}, "does not verify"},
		{"x5c", []fakeidp.TokenOption{fakeidp.WithHeader("x5c", []string{"MIIB"}), fakeidp.WithKid(idp.KID())}, "does not verify"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			token := attacker.Token(claims, c.opts...)
			_, err := h.verify(token)
			wantErr(t, err, token, errs.Unauthenticated, c.errHas)
		})
	}
	if n := attacker.Requests(); n != 0 {
		t.Errorf("the attacker's server got %d requests, want 0", n)
	}
	// The forged kids triggered at most one refetch of the real JWKS.
	if n := idp.JWKSFetches(); n > 2 {
		t.Errorf("the IdP's JWKS was fetched %d times, want at most 2", n)
	}
}

// TestRotation: the IdP rotates its key while tokens are verified in a
// loop; the new kid causes exactly one refetch, and no token signed with the
// new key fails.
func TestRotation(t *testing.T) {
	for _, keepOld := range []bool{true, false} {
		name := "old key withdrawn"
		if keepOld {
			name = "old key kept"
		}
		t.Run(name, func(t *testing.T) {
			idp := fakeidp.New(t)
			h := newHarness(t, Options{}, v2Issuer(idp))
			h.mustVerify(idp.Token(idp.DefaultClaims(idp.IssuerV2(), "")))
			before := idp.JWKSFetches()
			oldKid := idp.KID()

			ctx, stop := context.WithCancel(context.Background())
			var (
				wg                       sync.WaitGroup
				mu                       sync.Mutex
				newOK, newFail, oldFail  int
				firstNewFail             error
				verifiedOld, verifiedNew int
			)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						token := idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""))
						isNew := tokenKid(token) != oldKid
						_, err := h.verify(token)
						mu.Lock()
						switch {
						case isNew && err == nil:
							newOK++
							verifiedNew++
						case isNew:
							newFail++
							if firstNewFail == nil {
								firstNewFail = err
							}
						case err == nil:
							verifiedOld++
						default:
							oldFail++
						}
						mu.Unlock()
					}
				}()
			}
			time.Sleep(50 * time.Millisecond)
			idp.RotateKeys(keepOld)
			eventually(t, "200 tokens with the new key", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return newOK >= 200
			})
			stop()
			wg.Wait()
			if newFail != 0 {
				t.Errorf("%d tokens with the new key failed; first: %v", newFail, firstNewFail)
			}
			if keepOld && oldFail != 0 {
				t.Errorf("%d tokens with the kept old key failed", oldFail)
			}
			if verifiedOld == 0 {
				t.Error("no token was verified before the rotation")
			}
			if got := idp.JWKSFetches() - before; got != 1 {
				t.Errorf("rotation caused %d JWKS fetches, want 1", got)
			}
			if got := h.metric("gatehouse_federation_jwks_refetch_unknown_kid_total", map[string]string{"issuer": idp.IssuerV2()}); got != 1 {
				t.Errorf("unknown-kid refetch metric = %v, want 1", got)
			}
			t.Logf("old-key tokens: %d verified, %d refused; new-key tokens: %d verified", verifiedOld, oldFail, verifiedNew)
		})
	}
}

// tokenKid reads the kid of a compact token's header.
func tokenKid(token string) string {
	seg, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

// TestUnknownKidFlood: 1000 tokens with random unknown kids cause at most one
// refetch per MinRefetchInterval.
func TestUnknownKidFlood(t *testing.T) {
	clock := newClock()
	idp := fakeidp.New(t, fakeidp.WithClock(clock.Now))
	h := newHarnessClock(t, clock, Options{MinRefetchInterval: 30 * time.Second}, v2Issuer(idp))
	good := idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""))
	h.mustVerify(good)
	base := idp.JWKSFetches()
	iss := idp.IssuerV2()

	flood := func() {
		t.Helper()
		var wg sync.WaitGroup
		tokens := make(chan string)
		var mu sync.Mutex
		accepted := 0
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for tok := range tokens {
					if _, err := h.verify(tok); err == nil {
						mu.Lock()
						accepted++
						mu.Unlock()
					} else if !strings.Contains(errs.As(err).Message, "unknown signing key for "+iss) {
						t.Errorf("unexpected error %v", err)
					}
				}
			}()
		}
		for range 1000 {
			tokens <- withKid(good, randomKid())
		}
		close(tokens)
		wg.Wait()
		if accepted != 0 {
			t.Errorf("%d tokens with unknown kids were accepted", accepted)
		}
	}
	steps := []struct {
		advance time.Duration
		want    int // total refetches so far
	}{
		{0, 1},                // the first unknown kid refetches once
		{29 * time.Second, 1}, // still within the interval
		{time.Second, 2},      // 30 s after the first refetch: one more
		{10 * time.Second, 2}, // ...
		{25 * time.Second, 3}, // 35 s after the second
		{time.Millisecond, 3}, // ...
		{time.Hour, 4},        // long after
	}
	for i, s := range steps {
		h.clock.Advance(s.advance)
		flood()
		if got := idp.JWKSFetches() - base; got != s.want {
			t.Fatalf("step %d: %d refetches, want %d", i, got, s.want)
		}
		if got := h.metric("gatehouse_federation_jwks_refetch_unknown_kid_total", map[string]string{"issuer": iss}); int(got) != s.want {
			t.Fatalf("step %d: metric %v, want %d", i, got, s.want)
		}
		good = idp.Token(idp.DefaultClaims(iss, ""))
		h.mustVerify(good) // the real key still works, without a fetch
	}
	if got := idp.JWKSFetches() - base; got != steps[len(steps)-1].want {
		t.Errorf("valid tokens caused fetches: %d", got)
	}
}

// TestHotPathNoNetwork: once keys are cached, Verify makes no requests.
func TestHotPathNoNetwork(t *testing.T) {
	idp := fakeidp.New(t)
	h := newHarness(t, Options{}, v2Issuer(idp), v1Issuer(idp))
	t2 := idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""))
	t1 := idp.Token(idp.DefaultClaims(idp.IssuerV1(), ""))
	h.mustVerify(t2)
	h.mustVerify(t1)
	n := idp.Requests()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := h.verify(t2); err != nil {
					t.Error(err)
				}
				if _, err := h.verify(t1); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if got := idp.Requests() - n; got != 0 {
		t.Errorf("%d requests on the hot path", got)
	}
}

// TestFirstFetchSingleflight: concurrent first Verify calls share one
// discovery and one JWKS fetch.
func TestFirstFetchSingleflight(t *testing.T) {
	idp := fakeidp.New(t)
	h := newHarness(t, Options{}, v2Issuer(idp))
	token := idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := h.verify(token); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if d, j := idp.DiscoveryFetches(), idp.JWKSFetches(); d != 1 || j != 1 {
		t.Errorf("discovery fetched %d times, JWKS %d times; want 1 and 1", d, j)
	}
}

// TestSetIssuers: unchanged sources keep their keys; a changed jwks_uri is
// fetched again; a removed issuer is no longer trusted.
func TestSetIssuers(t *testing.T) {
	idp := fakeidp.New(t)
	v1, v2 := v1Issuer(idp), v2Issuer(idp)
	h := newHarness(t, Options{}, v1, v2)
	t1 := idp.Token(idp.DefaultClaims(idp.IssuerV1(), ""))
	t2 := idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""))
	h.mustVerify(t1)
	h.mustVerify(t2)
	if !h.v.Trusted(idp.IssuerV1()) || !h.v.Trusted(idp.IssuerV2()) || h.v.Trusted(idp.IssuerV2()+"/") {
		t.Fatal("Trusted is wrong")
	}
	fetches := idp.JWKSFetches()

	// Same sources, other settings: no fetch, new settings apply.
	v2.RoleMap = map[string][]string{"b1c0ffee-0000-4000-8000-000000000001": {"staff"}}
	v1.Audiences = []string{"something-else"}
	h.v.SetIssuers([]store.TrustedIssuer{v1, v2})
	if got := h.mustVerify(t2); !slices.Equal(got.Roles, []string{"staff"}) {
		t.Errorf("roles = %v after the role map changed", got.Roles)
	}
	_, err := h.verify(t1)
	wantErr(t, err, t1, errs.Unauthenticated, "another audience")
	if got := idp.JWKSFetches(); got != fetches {
		t.Errorf("unchanged sources were fetched again (%d → %d)", fetches, got)
	}

	// Another jwks_uri: fetched again.
	v1.Audiences = []string{idp.Audience()}
	v1.JWKSURI = idp.URL() + "/common/discovery/keys"
	h.v.SetIssuers([]store.TrustedIssuer{v1, v2, {Issuer: ""}, {Issuer: v2.Issuer, ID: "dup"}})
	h.mustVerify(t1)
	if got := idp.JWKSFetches(); got != fetches+1 {
		t.Errorf("JWKS fetches %d, want %d after jwks_uri changed", got, fetches+1)
	}
	if st := h.status(v1.Issuer); st.JWKSURI != v1.JWKSURI || st.Discovered {
		t.Errorf("status %+v", st)
	}
	if n := h.logs.count("second trusted issuer", "id=dup"); n != 1 {
		t.Errorf("duplicate issuer logged %d times", n)
	}

	// Removed: not trusted, metrics dropped.
	h.v.SetIssuers([]store.TrustedIssuer{v2})
	if h.v.Trusted(v1.Issuer) {
		t.Error("removed issuer still trusted")
	}
	_, err = h.verify(t1)
	wantErr(t, err, t1, errs.Unauthenticated, "token issuer is not trusted")
	if got := h.metric("gatehouse_federation_jwks_keys", map[string]string{"issuer": v1.Issuer}); got != 0 {
		t.Errorf("keys metric of a removed issuer = %v", got)
	}
	if got := h.metric("gatehouse_federation_jwks_keys", map[string]string{"issuer": v2.Issuer}); got != 1 {
		t.Errorf("keys metric = %v, want 1", got)
	}
	if got := len(h.v.Status()); got != 1 {
		t.Errorf("status has %d issuers", got)
	}
}

func TestWithDefaults(t *testing.T) {
	got := WithDefaults(store.TrustedIssuer{Issuer: "x", Leeway: -time.Second})
	if !slices.Equal(got.AllowedAlgs, []string{"RS256"}) || got.Leeway != 60*time.Second ||
		!slices.Equal(got.RequiredClaims, []string{"exp", "iat"}) ||
		!slices.Equal(got.IdentityClaims, []string{"email", "preferred_username", "upn", "appid", "azp"}) ||
		!slices.Equal(got.GroupClaims, []string{"groups", "roles"}) {
		t.Errorf("defaults: %+v", got)
	}
	got.AllowedAlgs[0] = "changed"
	if DefaultAllowedAlgs[0] != "RS256" {
		t.Error("WithDefaults shares the default slices")
	}
	in := store.TrustedIssuer{AllowedAlgs: []string{"ES256"}, Leeway: 5 * time.Second, RequiredClaims: []string{"sub"},
		IdentityClaims: []string{"oid"}, GroupClaims: []string{"wids"}, RoleMap: map[string][]string{"g": {"r"}}}
	got = WithDefaults(in)
	if got.AllowedAlgs[0] != "ES256" || got.Leeway != 5*time.Second || got.RequiredClaims[0] != "sub" ||
		got.IdentityClaims[0] != "oid" || got.GroupClaims[0] != "wids" {
		t.Errorf("set fields were changed: %+v", got)
	}
	got.RoleMap["g"][0] = "changed"
	if in.RoleMap["g"][0] != "r" {
		t.Error("WithDefaults shares the role map")
	}
}

// TestAlgorithms: issuers signing PS256 and ES384 verify when their
// allow-list says so; an RSA JWK without alg is bound to the token's alg
// only if the issuer allows it, and a JWK's own alg binds it.
func TestAlgorithms(t *testing.T) {
	ps := fakeidp.New(t, fakeidp.WithAlgorithm(jose.PS256))                          // RSA key without alg
	psAlg := fakeidp.New(t, fakeidp.WithAlgorithm(jose.PS256), fakeidp.WithJWKAlg()) // alg PS256
	rs := fakeidp.New(t)                                                             // RS256, no alg
	es := fakeidp.New(t, fakeidp.WithAlgorithm(jose.ES384))                          // crv P-384
	cases := []struct {
		name    string
		idp     *fakeidp.IdP
		allowed []string
		opts    []fakeidp.TokenOption
		errHas  []string // nil: accepted
	}{
		{"PS256 allowed, key without alg", ps, []string{jose.PS256}, nil, nil},
		{"PS256 among RS256 and PS256", ps, []string{jose.RS256, jose.PS256}, nil, nil},
		{"PS256 without kid, one RSA key", ps, []string{jose.PS256}, []fakeidp.TokenOption{fakeidp.WithKid("")}, nil},
		{"PS256 with a JWK alg PS256", psAlg, []string{jose.PS256}, nil, nil},
		{"PS256 by default (RS256 only)", ps, nil, nil, []string{"signed with PS256, which is not allowed for this issuer (allowed: RS256)"}},
		{"PS256 not in the allow-list", ps, []string{jose.RS256, jose.ES384}, nil, []string{"PS256, which is not allowed"}},
		{"RS256 header on a key whose JWK says PS256", psAlg, []string{jose.RS256, jose.PS256}, []fakeidp.TokenOption{fakeidp.WithAlg(jose.RS256)},
			[]string{"does not verify", "token is RS256 but key"}},
		{"PS256 header on an RS256 signature", rs, []string{jose.RS256, jose.PS256}, []fakeidp.TokenOption{fakeidp.WithAlg(jose.PS256)},
			[]string{"does not verify", "PS256 signature does not verify"}},
		{"RS256 on the same alg-less key", rs, []string{jose.RS256, jose.PS256}, nil, nil},
		{"ES384 allowed", es, []string{jose.ES384}, nil, nil},
		{"ES384 without kid", es, []string{jose.ES384}, []fakeidp.TokenOption{fakeidp.WithKid("")}, nil},
		{"ES384 by default (RS256 only)", es, nil, nil, []string{"ES384, which is not allowed"}},
		{"ES256 header on a P-384 key", es, []string{jose.ES256, jose.ES384}, []fakeidp.TokenOption{fakeidp.WithAlg(jose.ES256)},
			[]string{"does not verify"}},
		{"ES256 header without kid: no ES256 key", es, []string{jose.ES256, jose.ES384}, []fakeidp.TokenOption{fakeidp.WithAlg(jose.ES256), fakeidp.WithKid("")},
			[]string{"no kid", "exactly one ES256 key"}},
		{"RS256 header on a P-384 key", es, []string{jose.RS256, jose.ES384}, []fakeidp.TokenOption{fakeidp.WithAlg(jose.RS256)},
			[]string{"does not verify"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ti := v2Issuer(c.idp)
			ti.AllowedAlgs = c.allowed
			h := newHarness(t, Options{}, ti)
			token := c.idp.Token(c.idp.DefaultClaims(ti.Issuer, ""), c.opts...)
			got, err := h.verify(token)
			if c.errHas != nil {
				wantErr(t, err, token, errs.Unauthenticated, append(c.errHas, ti.Issuer)...)
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Issuer.Issuer != ti.Issuer || got.Subject == "" {
				t.Errorf("verified %+v", got)
			}
		})
	}
}

// TestAttackerKeyHeaders: whatever key-carrying header a token has (jku,
// x5u, x5c with the attacker's real certificate, an embedded jwk, one that
// itself points at the attacker), the key comes only from the trusted
// issuer's JWKS: the token is refused and the attacker's server sees no
// request at all, for RS256 and ES384 issuers alike.
func TestAttackerKeyHeaders(t *testing.T) {
	for _, alg := range []string{jose.RS256, jose.ES384} {
		t.Run(alg, func(t *testing.T) {
			idp := fakeidp.New(t, fakeidp.WithAlgorithm(alg))
			attacker := fakeidp.New(t, fakeidp.WithAlgorithm(alg))
			var hits atomic.Int64
			evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Error(w, "gotcha", http.StatusTeapot)
			}))
			defer evil.Close()
			ti := v2Issuer(idp)
			ti.AllowedAlgs = []string{alg}
			h := newHarness(t, Options{}, ti)
			h.mustVerify(idp.Token(idp.DefaultClaims(ti.Issuer, ""))) // keys cached

			var pointing map[string]any // the attacker's JWK, with x5u and jku inside
			_ = json.Unmarshal(attacker.PublicJWKJSON(), &pointing)
			pointing["x5u"], pointing["jku"] = evil.URL+"/cert.pem", evil.URL+"/jwks"
			withX5c := maps.Clone(pointing)
			withX5c["x5c"] = attacker.CertChain()
			victim := fakeidp.WithKid(idp.KID())
			cases := []struct {
				name string
				opts []fakeidp.TokenOption
			}{
				{"jku", []fakeidp.TokenOption{fakeidp.WithHeader("jku", evil.URL+"/jwks")}},
				{"jku to the attacker's real JWKS", []fakeidp.TokenOption{fakeidp.WithHeader("jku", attacker.JWKSURI())}},
				{"jku with the victim's kid", []fakeidp.TokenOption{fakeidp.WithHeader("jku", evil.URL+"/jwks"), victim}},
				{"x5u", []fakeidp.TokenOption{fakeidp.WithHeader("x5u", evil.URL+"/cert.pem")}},
				{"x5u with the victim's kid", []fakeidp.TokenOption{fakeidp.WithHeader("x5u", evil.URL+"/cert.pem"), victim}},
				{"x5c of the attacker's certificate", []fakeidp.TokenOption{fakeidp.WithHeader("x5c", attacker.CertChain())}},
				{"x5c with the victim's kid", []fakeidp.TokenOption{fakeidp.WithHeader("x5c", attacker.CertChain()), victim}},
				{"x5c without kid", []fakeidp.TokenOption{fakeidp.WithHeader("x5c", attacker.CertChain()), fakeidp.WithKid("")}},
				{"embedded jwk", []fakeidp.TokenOption{fakeidp.WithHeader("jwk", attacker.PublicJWK())}},
				{"embedded jwk pointing at the attacker", []fakeidp.TokenOption{fakeidp.WithHeader("jwk", pointing), victim}},
				{"embedded jwk with x5c, no kid", []fakeidp.TokenOption{fakeidp.WithHeader("jwk", withX5c), fakeidp.WithKid("")}},
				{"everything at once", []fakeidp.TokenOption{fakeidp.WithHeader("jwk", withX5c), fakeidp.WithHeader("x5c", attacker.CertChain()),
					fakeidp.WithHeader("jku", evil.URL+"/jwks"), fakeidp.WithHeader("x5u", evil.URL+"/x"), victim}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					token := attacker.Token(attacker.DefaultClaims(ti.Issuer, idp.Audience()), c.opts...)
					_, err := h.verify(token)
					wantErr(t, err, token, errs.Unauthenticated, ti.Issuer)
				})
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the attacker's server got %d requests, want 0", n)
			}
			if n := attacker.Requests(); n != 0 {
				t.Errorf("the attacker's IdP got %d requests, want 0", n)
			}
		})
	}
}

// TestNoGoroutineLeak: Run's end (or Close) stops the jwk.Cache's
// goroutines and every fetch.
func TestNoGoroutineLeak(t *testing.T) {
	leaked := func() int {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		n := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "lestrrat-go/httprc") || strings.Contains(g, "service/federation.(*Verifier)") {
				n++
			}
		}
		return n
	}
	before := leaked()
	idp := fakeidp.New(t, fakeidp.WithMaxAge(time.Second))
	v := New(Options{MinRefetchInterval: time.Second}, discardLogger(), nil)
	v.SetIssuers([]store.TrustedIssuer{v1Issuer(idp), v2Issuer(idp)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { v.Run(ctx); close(done) }()
	if _, err := v.Verify(context.Background(), idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""))); err != nil {
		t.Fatal(err)
	}
	if leaked() <= before {
		t.Fatal("no jwk.Cache goroutines while running?")
	}
	cancel()
	<-done
	eventually(t, "the Verifier's goroutines to end", func() bool { return leaked() <= before })

	// Without Run: Close.
	v = New(Options{}, discardLogger(), nil)
	v.SetIssuers([]store.TrustedIssuer{v1Issuer(idp)})
	if _, err := v.Verify(context.Background(), idp.Token(idp.DefaultClaims(idp.IssuerV1(), ""))); err != nil {
		t.Fatal(err)
	}
	v.Close()
	eventually(t, "the Verifier's goroutines to end after Close", func() bool { return leaked() <= before })
}
