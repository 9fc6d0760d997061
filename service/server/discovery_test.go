package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// startSelfIssued starts a server whose issuer is the URL it is reached at
// (plus issuerSuffix, e.g. "/"), as discovery clients require: a free
// loopback port is picked first and handed to the server as its HTTP
// address (options given to start win over the harness's 127.0.0.1:0).
func startSelfIssued(t *testing.T, dsn, issuerSuffix string, opts ...serverOption) (ts *testServer, issuer string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	issuer = "http://" + addr + issuerSuffix
	opts = append([]serverOption{func(c *server.Config) {
		c.HTTPAddr = addr
		c.Core.Issuer = issuer
	}}, opts...)
	ts = startServer(t, dsn, opts...)
	if ts.baseURL != "http://"+addr {
		t.Fatalf("server listens on %s, want %s", ts.baseURL, addr)
	}
	return ts, issuer
}

// discoveryForEachBackend runs fn against a self-issued server on every
// configured database.
func discoveryForEachBackend(t *testing.T, fn func(t *testing.T, ts *testServer, issuer string)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ts, issuer := startSelfIssued(t, b.DSN(t), "")
			fn(t, ts, issuer)
		})
	}
}

// getURL fetches an absolute URL.
func getURL(t testing.TB, u string) httpResult {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: res.StatusCode, header: res.Header, body: b}
}

// postForm posts an application/x-www-form-urlencoded body to an absolute URL.
func postForm(t testing.TB, u string, form url.Values) httpResult {
	t.Helper()
	res, err := http.PostForm(u, form)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: res.StatusCode, header: res.Header, body: b}
}

// jwksAlgs returns the alg of every key the server publishes.
func jwksAlgs(t testing.TB, jwksBody []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwksBody, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("JWKS %s: %v", jwksBody, err)
	}
	var algs []string
	for _, k := range set.Keys {
		if k.Alg == "" {
			t.Errorf("key %s has no alg", k.Kid)
		}
		algs = append(algs, k.Alg)
	}
	return algs
}

// TestOIDCDiscoveryDocument checks /.well-known/openid-configuration member
// by member: types, values derived from the configuration and the key ring,
// absolute and reachable endpoints, and the caching headers.
func TestOIDCDiscoveryDocument(t *testing.T) {
	discoveryForEachBackend(t, func(t *testing.T, ts *testServer, issuer string) {
		r := getURL(t, issuer+"/.well-known/openid-configuration")
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age=300" {
			t.Errorf("Cache-Control = %q, want the JWKS's public, max-age=300", cc)
		}
		doc := r.json(t)

		// Exactly these members, nothing that gatehouse does not do (no
		// dynamic registration).
		wantMembers := []string{
			"issuer", "jwks_uri", "token_endpoint", "introspection_endpoint", "revocation_endpoint",
			"authorization_endpoint", "userinfo_endpoint", "end_session_endpoint",
			"grant_types_supported", "response_types_supported", "response_modes_supported",
			"token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported",
			"scopes_supported", "subject_types_supported", "id_token_signing_alg_values_supported", "claims_supported",
			"code_challenge_methods_supported", "prompt_values_supported", "authorization_response_iss_parameter_supported",
			"claims_parameter_supported", "request_parameter_supported", "request_uri_parameter_supported",
		}
		var got []string
		for k := range doc {
			got = append(got, k)
		}
		sort.Strings(got)
		sort.Strings(wantMembers)
		if !slices.Equal(got, wantMembers) {
			t.Errorf("members = %v, want %v", got, wantMembers)
		}

		str := func(name string) string {
			t.Helper()
			s, ok := doc[name].(string)
			if !ok {
				t.Fatalf("%s = %#v, want a string", name, doc[name])
			}
			return s
		}
		list := func(name string) []string {
			t.Helper()
			a, ok := doc[name].([]any)
			if !ok {
				t.Fatalf("%s = %#v, want an array", name, doc[name])
			}
			out := []string{}
			for _, v := range a {
				s, ok := v.(string)
				if !ok {
					t.Fatalf("%s holds %#v, want strings", name, v)
				}
				out = append(out, s)
			}
			return out
		}

		if got := str("issuer"); got != issuer {
			t.Errorf("issuer = %q, want exactly %q", got, issuer)
		}
		for name, path := range map[string]string{
			"jwks_uri":               "/.well-known/jwks.json",
			"token_endpoint":         "/oauth2/token",
			"introspection_endpoint": "/oauth2/introspect",
			"revocation_endpoint":    "/oauth2/revoke",
			"authorization_endpoint": "/oauth2/authorize",
			"userinfo_endpoint":      "/oauth2/userinfo",
			"end_session_endpoint":   "/oauth2/logout",
		} {
			u, err := url.Parse(str(name))
			if err != nil || !u.IsAbs() || u.String() != issuer+path {
				t.Errorf("%s = %q (%v), want %q", name, str(name), err, issuer+path)
			}
		}
		for name, want := range map[string][]string{
			"grant_types_supported":                         {"authorization_code", "refresh_token", "client_credentials", "password", "urn:ietf:params:oauth:grant-type:token-exchange"},
			"response_types_supported":                      {"code"},
			"code_challenge_methods_supported":              {"S256"},
			"token_endpoint_auth_methods_supported":         {"client_secret_basic", "client_secret_post", "none"},
			"revocation_endpoint_auth_methods_supported":    {"client_secret_basic", "client_secret_post", "none"},
			"introspection_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post", "Bearer"},
			"scopes_supported":                              {"openid", "profile", "email", "offline_access"},
			"subject_types_supported":                       {"public"},
			"claims_supported": {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "roles", "sid",
				"auth_time", "nonce", "at_hash", "azp", "name", "preferred_username", "email", "email_verified"},
		} {
			if got := list(name); !slices.Equal(got, want) {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}

		// The endpoints answer at the advertised URLs.
		jwks := getURL(t, str("jwks_uri"))
		if jwks.status != http.StatusOK {
			t.Fatalf("GET jwks_uri = %d %s", jwks.status, jwks.body)
		}
		o2WantError(t, postForm(t, str("token_endpoint"), url.Values{"grant_type": {"implicit"}}), http.StatusBadRequest, "unsupported_grant_type")
		if r := postForm(t, str("revocation_endpoint"), url.Values{"token": {"not-a-token"}}); r.status != http.StatusOK {
			t.Errorf("POST revocation_endpoint = %d %s", r.status, r.body)
		}
		o2WantError(t, postForm(t, str("introspection_endpoint"), url.Values{"token": {"not-a-token"}}), http.StatusUnauthorized, "invalid_client")

		// Every published key's algorithm is offered, and RS256 always
		// (OpenID Connect requires it; its ID-token key is made when the
		// first client may use the code flow); nothing else is claimed.
		checkIDTokenAlgs(t, jwksAlgs(t, jwks.body), list("id_token_signing_alg_values_supported"))

		// A HEAD works too (caches revalidate with it); POST is refused.
		if res, err := http.Head(issuer + "/.well-known/openid-configuration"); err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("HEAD = %v %v", res, err)
		} else {
			res.Body.Close()
		}
		if r := postForm(t, issuer+"/.well-known/openid-configuration", nil); r.status != http.StatusMethodNotAllowed {
			t.Errorf("POST = %d", r.status)
		}
	})
}

// TestOIDCVerifierAcceptsAccessTokens drives the stock go-oidc client: it
// discovers gatehouse from its issuer URL alone, obtains tokens from the
// discovered token endpoint with golang.org/x/oauth2, and its verifier
// accepts gatehouse's access tokens and refuses forged, foreign-audience,
// wrong-issuer and expired ones, as gatehouse's own validation does.
func TestOIDCVerifierAcceptsAccessTokens(t *testing.T) {
	discoveryForEachBackend(t, func(t *testing.T, ts *testServer, issuer string) {
		aliceID, secret := seed(t, ts)
		ctx := context.Background()
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatalf("oidc.NewProvider(%q): %v", issuer, err)
		}
		if got := provider.Endpoint().TokenURL; got != issuer+"/oauth2/token" {
			t.Errorf("discovered token URL = %q", got)
		}
		verifier := provider.Verifier(&oidc.Config{ClientID: "gatehouse", Now: ts.clock.Now})

		// A user's token from the password grant, through the discovered
		// endpoint, as the public client.
		conf := oauth2.Config{ClientID: "gatehouse", Endpoint: provider.Endpoint(), Scopes: []string{"openid", "email"}}
		userTok, err := conf.PasswordCredentialsToken(ctx, "alice", "alice-password")
		if err != nil {
			t.Fatalf("password grant at the discovered endpoint: %v", err)
		}
		idt, err := verifier.Verify(ctx, userTok.AccessToken)
		if err != nil {
			t.Fatalf("go-oidc refuses gatehouse's access token: %v", err)
		}
		if idt.Subject != aliceID || idt.Issuer != issuer || !slices.Equal(idt.Audience, []string{"gatehouse"}) {
			t.Errorf("verified token: sub %q iss %q aud %v", idt.Subject, idt.Issuer, idt.Audience)
		}
		var claims struct {
			Username string   `json:"preferred_username"`
			Email    string   `json:"email"`
			ClientID string   `json:"client_id"`
			Scope    string   `json:"scope"`
			Roles    []string `json:"roles"`
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if claims.Username != "alice" || claims.Email != "alice@example.com" || claims.ClientID != "gatehouse" || claims.Scope != "openid email" || !slices.Equal(claims.Roles, []string{"viewer"}) {
			t.Errorf("claims = %+v", claims)
		}

		// A service client's token from the client_credentials grant.
		cc := clientcredentials.Config{ClientID: "reporter", ClientSecret: secret, TokenURL: provider.Endpoint().TokenURL}
		clientTok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("client_credentials at the discovered endpoint: %v", err)
		}
		reporter, err := ts.auth.LookupUser(ts.adminCtx(t), &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_ClientId{ClientId: "reporter"}})
		if err != nil {
			t.Fatal(err)
		}
		if idt, err := verifier.Verify(ctx, clientTok.AccessToken); err != nil {
			t.Errorf("go-oidc refuses a client_credentials token: %v", err)
		} else if idt.Subject != reporter.Account.Id {
			t.Errorf("client token sub = %q, want %q", idt.Subject, reporter.Account.Id)
		}

		// Refusals. Each token below is also refused by gatehouse itself.
		parts := strings.Split(userTok.AccessToken, ".")
		b64 := base64.RawURLEncoding
		payload, _ := b64.DecodeString(parts[1])
		otherSub := strings.Replace(string(payload), aliceID, "someone-else", 1)
		if otherSub == string(payload) {
			t.Fatalf("sub not found in payload %s", payload)
		}
		sig := []byte(parts[2])
		// A middle character (all six bits significant), kept in the base64url alphabet.
		if sig[10] == 'A' {
			sig[10] = 'B'
		} else {
			sig[10] = 'A'
		}
		now := ts.clock.Now().Unix()
		for name, tok := range map[string]string{
			"tampered payload":   parts[0] + "." + b64.EncodeToString([]byte(otherSub)) + "." + parts[2],
			"tampered signature": parts[0] + "." + parts[1] + "." + string(sig),
			"alg none":           b64.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + ".",
			"wrong issuer": ts.forge(t, "at+jwt", map[string]any{"iss": "http://localhost:8080", "sub": aliceID, "aud": "gatehouse",
				"exp": now + 600, "iat": now, "nbf": now, "jti": "wrong-iss", "client_id": "gatehouse"}),
		} {
			if _, err := verifier.Verify(ctx, tok); err == nil {
				t.Errorf("%s: go-oidc accepted it", name)
			}
			if _, err := ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: tok}); status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s: gatehouse says %v", name, err)
			}
		}

		// Another audience: go-oidc checks aud against its client id.
		other := provider.Verifier(&oidc.Config{ClientID: "other", Now: ts.clock.Now})
		if _, err := other.Verify(ctx, userTok.AccessToken); err == nil || !strings.Contains(err.Error(), "audience") {
			t.Errorf("token for aud gatehouse verified for client other: %v", err)
		}
		if _, err := ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: userTok.AccessToken, Audience: "other"}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("gatehouse with audience other: %v", err)
		}

		// Expired: past the 15 min lifetime and gatehouse's 30 s leeway, on
		// the clock both verifiers share.
		ts.clock.Advance(15*time.Minute + 30*time.Second + time.Minute)
		_, err = verifier.Verify(ctx, userTok.AccessToken)
		if expired := (*oidc.TokenExpiredError)(nil); !errors.As(err, &expired) {
			t.Errorf("expired token: go-oidc says %v, want a TokenExpiredError", err)
		}
		if _, err := ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: userTok.AccessToken}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("expired token: gatehouse says %v", err)
		}
		// A fresh token verifies on the advanced clock.
		fresh, err := conf.PasswordCredentialsToken(ctx, "alice", "alice-password")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verifier.Verify(ctx, fresh.AccessToken); err != nil {
			t.Errorf("fresh token after the clock moved: %v", err)
		}
	})
}

// TestOIDCDiscoveryFollowsKeys checks that the advertised algorithms follow
// the signing keys, so that go-oidc (which otherwise accepts only RS256)
// verifies tokens of every algorithm gatehouse signs with, and that an
// issuer with a trailing slash is echoed exactly without doubling slashes
// in the endpoints.
func TestOIDCDiscoveryFollowsKeys(t *testing.T) {
	for _, tc := range []struct {
		name, alg, suffix string
	}{
		{"ES256", jose.ES256, ""},
		{"EdDSA", jose.EdDSA, ""},
		{"RS256", jose.RS256, ""},
		{"trailing slash", jose.ES256, "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts, issuer := startSelfIssued(t, "", tc.suffix, func(c *server.Config) { c.SigningAlg = tc.alg })
			base := strings.TrimSuffix(issuer, "/")
			r := getURL(t, base+"/.well-known/openid-configuration")
			var doc struct {
				Issuer  string   `json:"issuer"`
				JWKSURI string   `json:"jwks_uri"`
				Token   string   `json:"token_endpoint"`
				Algs    []string `json:"id_token_signing_alg_values_supported"`
			}
			if err := json.Unmarshal(r.body, &doc); err != nil || r.status != http.StatusOK {
				t.Fatalf("discovery %d %s: %v", r.status, r.body, err)
			}
			if doc.Issuer != issuer || doc.JWKSURI != base+"/.well-known/jwks.json" || doc.Token != base+"/oauth2/token" {
				t.Errorf("issuer %q jwks_uri %q token_endpoint %q (issuer %q)", doc.Issuer, doc.JWKSURI, doc.Token, issuer)
			}
			keyAlgs := jwksAlgs(t, ts.do(t, "GET", "/.well-known/jwks.json", "", "", "").body)
			checkIDTokenAlgs(t, slices.Compact(keyAlgs), doc.Algs)
			if !slices.Contains(doc.Algs, tc.alg) {
				t.Errorf("algs = %v, keys %v, signing with %s", doc.Algs, keyAlgs, tc.alg)
			}

			ctx := context.Background()
			provider, err := oidc.NewProvider(ctx, issuer)
			if err != nil {
				t.Fatalf("oidc.NewProvider(%q): %v", issuer, err)
			}
			tok := ts.token(t, "admin", ts.adminPW)
			if h, _ := decodeJWT(t, tok); h["alg"] != tc.alg {
				t.Fatalf("token alg %v, want %s", h["alg"], tc.alg)
			}
			idt, err := provider.Verifier(&oidc.Config{ClientID: "gatehouse", Now: ts.clock.Now}).Verify(ctx, tok)
			if err != nil {
				t.Fatalf("go-oidc refuses a %s token: %v", tc.alg, err)
			}
			if idt.Issuer != issuer {
				t.Errorf("iss = %q, want %q", idt.Issuer, issuer)
			}
		})
	}
}

// checkIDTokenAlgs: the ID token algorithms are those of the published keys
// plus RS256.
func checkIDTokenAlgs(t *testing.T, keyAlgs, algs []string) {
	t.Helper()
	want := slices.Clone(keyAlgs)
	if !slices.Contains(want, "RS256") {
		want = append(want, "RS256")
	}
	for _, a := range want {
		if !slices.Contains(algs, a) {
			t.Errorf("id_token_signing_alg_values_supported = %v lacks %s", algs, a)
		}
	}
	for _, a := range algs {
		if !slices.Contains(want, a) {
			t.Errorf("id_token_signing_alg_values_supported = %v claims %s, which no key signs", algs, a)
		}
	}
}
