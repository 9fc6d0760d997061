package server_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// fedFixture is a gatehouse trusting a fake Entra ID tenant through both its
// v1 issuer (explicit jwks_uri) and its v2 issuer (discovery).
type fedFixture struct {
	ts       *testServer
	idp      *fakeidp.IdP
	aliceID  string
	secret   string // of the service client "reporter"
	appID    string // the Azure app registered as a gatehouse service client
	v1, v2   string // issuers
	issuerID string // id of the v2 trusted issuer
}

// aliceOID is the Entra object id of alice in the fake tenant; the fixture
// links it (tid:oid) to the local alice, who has a password and so is never
// linked automatically.
const aliceOID = "5b9c1a0e-8f1d-4c07-9a3e-4d4b1f3a2c11"

// newFedFixture trusts the fake tenant's two issuers with link_by
// "username", the service clients "reporter" and the Azure app as exchange
// clients, and an admin link of alice's tid:oid on both issuers.
func newFedFixture(t *testing.T, dsn string, jit bool) *fedFixture {
	t.Helper()
	ts := startServer(t, dsn)
	f := &fedFixture{ts: ts, idp: fakeidp.New(t, fakeidp.WithClock(ts.clock.Now))}
	f.aliceID, f.secret = seed(t, ts)
	ctx := ts.adminCtx(t)
	f.v1, f.v2 = f.idp.IssuerV1(), f.idp.IssuerV2()
	roleMap := []*gatehousev1.RoleMapping{
		{Group: "g-admins", Roles: []string{"ops", "auditor"}},
		{Group: "g-ops", Roles: []string{"ops"}},
		{Group: "Reader", Roles: []string{"reader"}},
		{Group: "Service.Call", Roles: []string{"caller"}},
	}
	for _, ti := range []*gatehousev1.TrustedIssuer{
		{Issuer: f.v1, JwksUri: f.idp.JWKSURI(), Audiences: []string{f.idp.Audience()}, RoleMap: roleMap, JitProvisioning: jit, LinkBy: "username", ExchangeClients: []string{"reporter", f.idp.ClientID()}},
		{Issuer: f.v2, Audiences: []string{f.idp.Audience(), f.idp.ClientID()}, RoleMap: roleMap, JitProvisioning: jit, LinkBy: "username", ExchangeClients: []string{"reporter", f.idp.ClientID()}},
	} {
		res, err := ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: ti})
		if err != nil {
			t.Fatalf("trust %s: %v", ti.Issuer, err)
		}
		f.issuerID = res.Id
		if _, err := ts.admin.LinkIdentity(ctx, &gatehousev1.LinkIdentityRequest{Issuer: ti.Issuer, Subject: f.idp.Tenant() + ":" + aliceOID, Account: "alice"}); err != nil {
			t.Fatalf("link alice on %s: %v", ti.Issuer, err)
		}
	}
	f.appID = f.idp.ClientID()
	if _, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: f.appID, Roles: []string{"etl"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// user returns claims of a user token of the given issuer.
func (f *fedFixture) user(iss string, edit func(map[string]any)) string {
	c := f.idp.DefaultClaims(iss, "")
	c["email"], c["upn"] = "alice@example.com", "alice@example.com"
	if _, ok := c["preferred_username"]; ok {
		c["preferred_username"] = "alice@example.com"
	}
	c["groups"] = []string{"g-admins", "g-ops", "unmapped"}
	if edit != nil {
		edit(c)
	}
	return f.idp.Token(c)
}

func TestFederatedValidation(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f := newFedFixture(t, b.DSN(t), false)
			ts, now := f.ts, f.ts.clock.Now()
			app := f.idp.AppClaims(f.v1, "", f.appID)
			appV2 := f.idp.AppClaims(f.v2, "", f.appID)
			for _, tc := range []struct {
				name    string
				token   string
				code    codes.Code
				subject string
				roles   []string
			}{
				{"user by admin link (v1)", f.user(f.v1, nil), codes.OK, f.aliceID, []string{"auditor", "ops", "viewer"}},
				{"user by admin link (v2, discovery)", f.user(f.v2, nil), codes.OK, f.aliceID, []string{"auditor", "ops", "viewer"}},
				{"linked user whose claims changed", f.user(f.v2, func(c map[string]any) {
					c["email"], c["upn"], c["preferred_username"] = "bob@example.com", "bob@example.com", "bob"
				}), codes.OK, f.aliceID, nil},
				{"user linked by preferred_username (link_by username)", f.user(f.v2, func(c map[string]any) {
					c["oid"] = "0b0b0b0b-0000-4000-8000-00000000b0b0"
					delete(c, "email")
					delete(c, "upn")
					c["preferred_username"] = "BOB"
					c["groups"] = []string{"g-ops"}
				}), codes.OK, "", []string{"ops"}},
				{"service principal by appid (v1)", f.idp.Token(app), codes.OK, "", []string{"caller", "etl"}},
				{"service principal by azp (v2)", f.idp.Token(appV2), codes.OK, "", []string{"caller", "etl"}},
				{"unknown user", f.user(f.v2, func(c map[string]any) {
					c["oid"] = "2ed2ed2e-0000-4000-8000-000000000000"
					c["email"], c["upn"], c["preferred_username"] = "zed@example.com", "zed@example.com", "zed@example.com"
				}), codes.PermissionDenied, "", nil},
				{"alice's name is no way in (she has a password)", f.user(f.v2, func(c map[string]any) {
					c["oid"] = "a11ce000-0000-4000-8000-000000000000"
					c["preferred_username"] = "alice"
				}), codes.PermissionDenied, "", nil},
				{"user token never maps to its app", f.user(f.v2, func(c map[string]any) {
					c["oid"] = "2ed2ed2e-0000-4000-8000-000000000000"
					c["email"], c["upn"], c["preferred_username"] = "zed@example.com", "zed@example.com", "zed@example.com"
					c["azp"] = f.appID
				}), codes.PermissionDenied, "", nil},
				{"wrong audience", f.user(f.v2, func(c map[string]any) { c["aud"] = "api://someone-else" }), codes.Unauthenticated, "", nil},
				{"untrusted issuer", f.user("https://login.microsoftonline.com/other-tenant/v2.0", nil), codes.Unauthenticated, "", nil},
				{"expired", f.user(f.v2, func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }), codes.Unauthenticated, "", nil},
				{"nbf beyond leeway", f.user(f.v2, func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() }), codes.Unauthenticated, "", nil},
				{"nbf within leeway", f.user(f.v2, func(c map[string]any) { c["nbf"] = now.Add(30 * time.Second).Unix() }), codes.OK, f.aliceID, nil},
				{"alg none", f.idp.Token(f.idp.DefaultClaims(f.v2, ""), fakeidp.WithAlgNone()), codes.Unauthenticated, "", nil},
				{"HS256 with the IdP public key", f.idp.Token(f.idp.DefaultClaims(f.v2, ""), fakeidp.WithHS256(f.idp.PublicKeyPEM())), codes.Unauthenticated, "", nil},
				{"jku to an attacker", fakeidp.New(t).Token(f.idp.DefaultClaims(f.v2, ""), fakeidp.WithHeader("jku", "http://127.0.0.1:1/keys")), codes.Unauthenticated, "", nil},
				{"embedded jwk", fakeidp.New(t).Token(f.idp.DefaultClaims(f.v2, ""), fakeidp.WithHeader("jwk", fakeidp.New(t).PublicJWK())), codes.Unauthenticated, "", nil},
				{"bad signature", f.idp.Token(f.idp.DefaultClaims(f.v2, ""), fakeidp.WithBadSignature()), codes.Unauthenticated, "", nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					res, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tc.token})
					if status.Code(err) != tc.code {
						t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tc.code)
					}
					if err != nil {
						return
					}
					p := res.Principal
					if tc.subject != "" && p.Subject != tc.subject {
						t.Errorf("subject = %s, want %s", p.Subject, tc.subject)
					}
					for _, r := range tc.roles {
						if !slices.Contains(p.Roles, r) {
							t.Errorf("roles %v lack %s", p.Roles, r)
						}
					}
					if p.IdentitySource != f.v1 && p.IdentitySource != f.v2 {
						t.Errorf("identity_source = %q", p.IdentitySource)
					}
				})
			}
			// Disabled local user → 403 (REST too).
			if _, err := ts.admin.DisableUser(ts.adminCtx(t), &gatehousev1.DisableUserRequest{Id: f.aliceID}); err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(map[string]string{"token": f.user(f.v2, nil)})
			if r := ts.do(t, "POST", "/v1/token:validate", "application/json", string(body), ""); r.status != 403 {
				t.Errorf("disabled local user over REST = %d %s", r.status, r.body)
			}
		})
	}
}

func TestFederatedJITProvisioning(t *testing.T) {
	f := newFedFixture(t, "", true)
	newcomer := func(email string) string {
		return f.user(f.v2, func(c map[string]any) {
			c["oid"] = "9e9e9e9e-0000-4000-8000-000000000009"
			c["email"], c["upn"], c["preferred_username"] = email, email, email
			c["groups"] = []string{"g-ops"}
		})
	}
	tok := newcomer("newcomer@example.com")
	res, err := f.ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.ts.auth.LookupUser(f.ts.adminCtx(t), &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_Email{Email: "newcomer@example.com"}})
	if err != nil || got.Account.Id != res.Principal.Subject || !slices.Equal(got.Account.Roles, []string{"ops", "reader"}) {
		t.Fatalf("provisioned account = %v, %v", got, err)
	}
	// The second time the same account is found, not created again.
	again, err := f.ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok})
	if err != nil || again.Principal.Subject != res.Principal.Subject {
		t.Errorf("second validation: %v, %v", again, err)
	}
	// The account came with its link: a changed email still finds it.
	moved, err := f.ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: newcomer("renamed@example.com")})
	if err != nil || moved.Principal.Subject != res.Principal.Subject {
		t.Errorf("after the email changed: %v, %v", moved, err)
	}
	links, err := f.ts.admin.ListIdentityLinks(f.ts.adminCtx(t), &gatehousev1.ListIdentityLinksRequest{Issuer: f.v2})
	if err != nil {
		t.Fatal(err)
	}
	var jit []string
	for _, l := range links.Links {
		if l.CreatedBy == "jit" {
			jit = append(jit, l.Subject+"="+l.AccountId)
		}
	}
	if want := []string{f.idp.Tenant() + ":9e9e9e9e-0000-4000-8000-000000000009=" + res.Principal.Subject}; !slices.Equal(jit, want) {
		t.Errorf("jit links = %v, want %v", jit, want)
	}
	// App-only tokens are never provisioned.
	if _, err := f.ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: f.idp.Token(f.idp.AppClaims(f.v2, "", "unknown-app"))}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("unknown app with JIT on: %v", err)
	}
}

// TestTokenExchange: a stock OAuth 2.0 client (x/oauth2's clientcredentials,
// with RFC 8693 parameters) swaps an Entra ID token for a gatehouse token,
// which then validates like a native one.
func TestTokenExchange(t *testing.T) {
	f := newFedFixture(t, "", false)
	ctx := context.Background()
	idToken := f.user(f.v2, nil)
	cfg := clientcredentials.Config{
		ClientID:     "reporter",
		ClientSecret: f.secret,
		TokenURL:     f.ts.baseURL + "/oauth2/token",
		EndpointParams: url.Values{
			"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token":      {idToken},
			"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"},
		},
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatalf("stock client token exchange: %v", err)
	}
	if tok.Extra("issued_token_type") != "urn:ietf:params:oauth:token-type:access_token" || tok.TokenType != "Bearer" || tok.RefreshToken != "" {
		t.Errorf("exchange response: type %v, issued %v", tok.TokenType, tok.Extra("issued_token_type"))
	}
	v, err := f.ts.validate(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	p := v.Principal
	if p.Subject != f.aliceID || p.Issuer != "http://localhost:8080" || p.IdentitySource != f.v2 || p.ClientId != "reporter" || !slices.Contains(p.Roles, "auditor") {
		t.Errorf("exchanged principal = %+v", p)
	}
	// The same over gRPC.
	res, err := f.ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "urn:ietf:params:oauth:grant-type:token-exchange", ClientId: "reporter", ClientSecret: f.secret, SubjectToken: idToken, SubjectTokenType: "urn:ietf:params:oauth:token-type:access_token"})
	if err != nil || res.IssuedTokenType != "urn:ietf:params:oauth:token-type:access_token" {
		t.Fatalf("gRPC exchange: %v %v", res, err)
	}
	// A service client the issuer does not list may not exchange its tokens.
	other, err := f.ts.admin.CreateServiceClient(f.ts.adminCtx(t), &gatehousev1.CreateServiceClientRequest{ClientId: "other"})
	if err != nil {
		t.Fatal(err)
	}
	otherSecret := other.ClientSecret
	if _, err := f.ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "urn:ietf:params:oauth:grant-type:token-exchange", ClientId: "other", ClientSecret: otherSecret, SubjectToken: idToken, SubjectTokenType: "urn:ietf:params:oauth:token-type:jwt"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC exchange by an unlisted client: %v, want PermissionDenied", err)
	}
	// Refusals, RFC 6749 §5.2 style.
	for name, tc := range map[string]struct {
		form url.Values
		code string
	}{
		"no client auth":   {url.Values{"subject_token": {idToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}, "invalid_client"},
		"wrong token type": {url.Values{"client_id": {"reporter"}, "client_secret": {f.secret}, "subject_token": {idToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:saml2"}}, "invalid_request"},
		"untrusted token":  {url.Values{"client_id": {"reporter"}, "client_secret": {f.secret}, "subject_token": {tok.AccessToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}, "invalid_grant"},
		"other audience":   {url.Values{"client_id": {"reporter"}, "client_secret": {f.secret}, "subject_token": {idToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "audience": {"billing"}}, "invalid_target"},
		"unmapped identity": {url.Values{"client_id": {"reporter"}, "client_secret": {f.secret}, "subject_token": {f.user(f.v2, func(c map[string]any) {
			c["oid"] = "0d0d0d0d-0000-4000-8000-000000000000"
			c["email"], c["upn"], c["preferred_username"] = "x@y.z", "x@y.z", "x@y.z"
		})}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}, "invalid_grant"},
		"client not in exchange_clients": {url.Values{"client_id": {"other"}, "client_secret": {otherSecret}, "subject_token": {idToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}, "unauthorized_client"},
		"actor token":                    {url.Values{"client_id": {"reporter"}, "client_secret": {f.secret}, "subject_token": {idToken}, "subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}, "actor_token": {idToken}}, "invalid_request"},
		"missing subject type":           {url.Values{"client_id": {"reporter"}, "client_secret": {f.secret}, "subject_token": {idToken}}, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.form.Set("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange")
			r := f.ts.do(t, "POST", "/oauth2/token", "application/x-www-form-urlencoded", tc.form.Encode(), "")
			if r.status < 400 || r.status >= 500 || r.json(t)["error"] != tc.code {
				t.Errorf("= %d %s, want error %s", r.status, r.body, tc.code)
			}
		})
	}
}

// TestFederatedKeyRotation: the IdP rotates its keys; the first token with
// the new kid triggers a refetch and every token validates.
func TestFederatedKeyRotation(t *testing.T) {
	f := newFedFixture(t, "", false)
	if _, err := f.ts.validate(f.user(f.v2, nil)); err != nil {
		t.Fatal(err)
	}
	f.idp.RotateKeys(false)
	for i := range 20 {
		if _, err := f.ts.validate(f.user(f.v2, nil)); err != nil {
			t.Fatalf("token %d after the IdP rotated: %v", i, err)
		}
	}
	// IdP down: the cached keys keep working, and the failure shows in /metrics.
	f.idp.SetMode(fakeidp.ModeDown)
	if _, err := f.ts.validate(f.user(f.v2, nil)); err != nil {
		t.Errorf("with the IdP down: %v", err)
	}
	if r := getURL(t, "http://"+f.ts.app.OpsAddr()+"/metrics"); r.status != 200 || !strings.Contains(string(r.body), "gatehouse_federation_jwks") {
		t.Errorf("/metrics = %d, no federation metrics", r.status)
	}
	// Removing the trusted issuer stops its tokens.
	if _, err := f.ts.admin.DeleteTrustedIssuer(f.ts.adminCtx(t), &gatehousev1.DeleteTrustedIssuerRequest{Id: f.issuerID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ts.validate(f.user(f.v2, nil)); status.Code(err) != codes.Unauthenticated {
		t.Errorf("issuer removed: %v", err)
	}
}
