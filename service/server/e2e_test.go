package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// forEachBackend runs fn against a fresh server on every configured database.
func forEachBackend(t *testing.T, fn func(t *testing.T, ts *testServer)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, startServer(t, b.DSN(t)))
		})
	}
}

// seed creates a user alice (role viewer, password "alice-password") and a
// service client "reporter" (role user-lookup) and returns the client secret.
func seed(t *testing.T, ts *testServer) (aliceID, clientSecret string) {
	t.Helper()
	ctx := ts.adminCtx(t)
	u, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "alice", Email: "Alice@Example.com", DisplayName: "Alice", Password: "alice-password", Roles: []string{"viewer"}})
	if err != nil {
		t.Fatalf("create alice: %v", err)
	}
	c, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: "reporter", Roles: []string{"user-lookup"}})
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	return u.Id, c.ClientSecret
}

func TestGrantsAndValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		aliceID, secret := seed(t, ts)
		ctx := context.Background()

		// Password grant over gRPC, then validation returns the principal.
		res, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "ALICE", Password: "alice-password", Scope: "openid email"})
		if err != nil {
			t.Fatal(err)
		}
		if res.TokenType != "Bearer" || res.ExpiresIn != 900 || res.Scope != "openid email" {
			t.Errorf("response = %+v", res)
		}
		v, err := ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: res.AccessToken, Audience: "gatehouse", RequiredRoles: []string{"viewer"}, RequiredScopes: []string{"email"}})
		if err != nil {
			t.Fatal(err)
		}
		p := v.Principal
		if p.Subject != aliceID || p.Kind != gatehousev1.AccountKind_ACCOUNT_KIND_USER || p.Username != "alice" || p.Email != "alice@example.com" ||
			!slices.Equal(p.Roles, []string{"viewer"}) || !slices.Equal(p.Scopes, []string{"openid", "email"}) || p.Issuer != "http://localhost:8080" ||
			!slices.Equal(p.Audience, []string{"gatehouse"}) || p.ClientId != "gatehouse" || p.TokenId == "" ||
			p.ExpiresAt.AsTime().Sub(p.IssuedAt.AsTime()) != 15*time.Minute {
			t.Errorf("principal = %+v", p)
		}

		// RFC 9068 header and claims.
		header, claims := decodeJWT(t, res.AccessToken)
		if header["typ"] != "at+jwt" || header["alg"] != "ES256" || header["kid"] == "" {
			t.Errorf("header = %v", header)
		}
		for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "roles", "preferred_username", "email"} {
			if _, ok := claims[c]; !ok {
				t.Errorf("claim %s missing: %v", c, claims)
			}
		}

		// Client credentials over gRPC.
		cc, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "reporter", ClientSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		v, err = ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: cc.AccessToken})
		if err != nil {
			t.Fatal(err)
		}
		if v.Principal.Kind != gatehousev1.AccountKind_ACCOUNT_KIND_SERVICE_CLIENT || v.Principal.ClientId != "reporter" || v.Principal.Username != "" {
			t.Errorf("client principal = %+v", v.Principal)
		}
		if _, claims := decodeJWT(t, cc.AccessToken); claims["preferred_username"] != nil || claims["client_id"] != "reporter" {
			t.Errorf("client claims = %v", claims)
		}

		// Password grant with client authentication names the client.
		withClient, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "alice", Password: "alice-password", ClientId: "reporter", ClientSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		if _, claims := decodeJWT(t, withClient.AccessToken); claims["client_id"] != "reporter" {
			t.Errorf("client_id claim = %v", claims["client_id"])
		}

		// The same over REST.
		r := ts.do(t, "POST", "/v1/token", "application/json", `{"grant_type":"client_credentials","client_id":"reporter","client_secret":"`+secret+`"}`, "")
		if r.status != 200 {
			t.Fatalf("POST /v1/token = %d %s", r.status, r.body)
		}
		tok := r.json(t)["access_token"].(string)
		r = ts.do(t, "POST", "/v1/token:validate", "application/json", `{"token":"`+tok+`"}`, "")
		if r.status != 200 || !strings.Contains(string(r.body), `"client_id":"reporter"`) || !strings.Contains(string(r.body), `"kind":"ACCOUNT_KIND_SERVICE_CLIENT"`) {
			t.Errorf("POST /v1/token:validate = %d %s", r.status, r.body)
		}
	})
}

func TestGrantFailures(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		_, secret := seed(t, ts)
		ctx := ts.adminCtx(t)
		bob, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "bob", Password: "bob-password"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: bob.Id}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "nopass"}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			req  *gatehousev1.IssueTokenRequest
			code codes.Code
		}{
			{"wrong password", &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "alice", Password: "wrong-password"}, codes.Unauthenticated},
			{"unknown user", &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "mallory", Password: "whatever-pw"}, codes.Unauthenticated},
			{"user without password", &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "nopass", Password: "whatever-pw"}, codes.Unauthenticated},
			{"disabled user", &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "bob", Password: "bob-password"}, codes.PermissionDenied},
			{"disabled user wrong password", &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "bob", Password: "nope-nope"}, codes.Unauthenticated},
			{"missing password", &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "alice"}, codes.InvalidArgument},
			{"missing grant type", &gatehousev1.IssueTokenRequest{Username: "alice", Password: "alice-password"}, codes.InvalidArgument},
			{"unsupported grant", &gatehousev1.IssueTokenRequest{GrantType: "implicit"}, codes.InvalidArgument},
			{"unknown scope", &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "alice", Password: "alice-password", Scope: "openid admin:all"}, codes.InvalidArgument},
			{"bad scope chars", &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "alice", Password: "alice-password", Scope: "open\"id"}, codes.InvalidArgument},
			{"wrong client secret", &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "reporter", ClientSecret: secret + "x"}, codes.Unauthenticated},
			{"unknown client", &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "ghost", ClientSecret: secret}, codes.Unauthenticated},
			{"user as client", &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "alice", ClientSecret: "alice-password"}, codes.Unauthenticated},
			{"missing client secret", &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "reporter"}, codes.InvalidArgument},
			{"password grant bad client", &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "alice", Password: "alice-password", ClientId: "reporter", ClientSecret: "nope"}, codes.Unauthenticated},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := ts.auth.IssueToken(context.Background(), tc.req)
				if status.Code(err) != tc.code {
					t.Errorf("code = %v (%v), want %v", status.Code(err), err, tc.code)
				}
			})
		}
		// A disabled client cannot get tokens either.
		list, err := ts.admin.ListServiceClients(ctx, &gatehousev1.ListServiceClientsRequest{})
		if err != nil || len(list.Clients) != 1 {
			t.Fatalf("list clients: %v %v", list, err)
		}
		if _, err := ts.admin.DisableServiceClient(ctx, &gatehousev1.DisableServiceClientRequest{Id: list.Clients[0].Id}); err != nil {
			t.Fatal(err)
		}
		_, err = ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "reporter", ClientSecret: secret})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("disabled client: %v", err)
		}
	})
}

// TestValidationRejects covers the token checks: every forged or stale token
// is refused with the documented code, over gRPC and REST alike.
func TestValidationRejects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		aliceID, _ := seed(t, ts)
		good := ts.token(t, "alice", "alice-password")
		now := ts.clock.Now().Unix()
		claims := func(edit func(m map[string]any)) map[string]any {
			m := map[string]any{"iss": "http://localhost:8080", "sub": aliceID, "aud": "gatehouse", "exp": now + 600, "iat": now, "nbf": now, "jti": "x", "client_id": "gatehouse", "preferred_username": "alice"}
			if edit != nil {
				edit(m)
			}
			return m
		}
		parts := strings.Split(good, ".")
		jwks := ts.do(t, "GET", "/.well-known/jwks.json", "", "", "")
		var set struct{ Keys []map[string]any }
		json.Unmarshal(jwks.body, &set)
		pubJSON, _ := json.Marshal(set.Keys[0])

		for _, tc := range []struct {
			name     string
			token    string
			audience string
			roles    []string
			code     codes.Code
			http     int
		}{
			{"valid forged-by-server token", ts.forge(t, "at+jwt", claims(nil)), "", nil, codes.OK, 200},
			{"tampered signature", parts[0] + "." + parts[1] + "." + flipLast(parts[2]), "", nil, codes.Unauthenticated, 401},
			{"tampered payload", parts[0] + "." + b64(`{"iss":"http://localhost:8080","sub":"`+aliceID+`","roles":["admin"]}`) + "." + parts[2], "", nil, codes.Unauthenticated, 401},
			{"alg none", b64(`{"alg":"none","typ":"at+jwt"}`) + "." + parts[1] + ".", "", nil, codes.Unauthenticated, 401},
			{"alg none with kid", b64(`{"alg":"none","typ":"at+jwt","kid":"`+set.Keys[0]["kid"].(string)+`"}`) + "." + parts[1] + "." + parts[2], "", nil, codes.Unauthenticated, 401},
			{"HS256 with public key as secret", hs256(t, set.Keys[0]["kid"].(string), parts[1], pubJSON), "", nil, codes.Unauthenticated, 401},
			{"unknown kid", b64(`{"alg":"ES256","typ":"at+jwt","kid":"nope"}`) + "." + parts[1] + "." + parts[2], "", nil, codes.Unauthenticated, 401},
			{"expired", ts.forge(t, "at+jwt", claims(func(m map[string]any) { m["exp"] = now - 31; m["iat"] = now - 1000; m["nbf"] = now - 1000 })), "", nil, codes.Unauthenticated, 401},
			{"expired within leeway", ts.forge(t, "at+jwt", claims(func(m map[string]any) { m["exp"] = now - 20 })), "", nil, codes.OK, 200},
			{"not yet valid", ts.forge(t, "at+jwt", claims(func(m map[string]any) { m["nbf"] = now + 120 })), "", nil, codes.Unauthenticated, 401},
			{"issued in the future", ts.forge(t, "at+jwt", claims(func(m map[string]any) { m["iat"] = now + 120 })), "", nil, codes.Unauthenticated, 401},
			{"wrong issuer", ts.forge(t, "at+jwt", claims(func(m map[string]any) { m["iss"] = "https://evil.example" })), "", nil, codes.Unauthenticated, 401},
			{"wrong audience", good, "billing", nil, codes.Unauthenticated, 401},
			{"audience in list", ts.forge(t, "at+jwt", claims(func(m map[string]any) { m["aud"] = []string{"billing", "gatehouse"} })), "billing", nil, codes.OK, 200},
			{"missing exp", ts.forge(t, "at+jwt", claims(func(m map[string]any) { delete(m, "exp") })), "", nil, codes.Unauthenticated, 401},
			// Claim names are case-sensitive (RFC 7519 section 4): "EXP" is not an exp.
			{"exp spelled EXP", ts.forge(t, "at+jwt", claims(func(m map[string]any) { m["EXP"] = m["exp"]; delete(m, "exp") })), "", nil, codes.Unauthenticated, 401},
			{"sub spelled Sub", ts.forge(t, "at+jwt", claims(func(m map[string]any) { m["Sub"] = m["sub"]; delete(m, "sub") })), "", nil, codes.Unauthenticated, 401},
			{"exp not an integer", ts.forge(t, "at+jwt", claims(func(m map[string]any) { m["exp"] = float64(now) + 600.5 })), "", nil, codes.Unauthenticated, 401},
			{"wrong typ", ts.forge(t, "JWT", claims(nil)), "", nil, codes.Unauthenticated, 401},
			{"no kid", ts.forgeKey(t, func(k *jose.PrivateKey) { k.KID = "" }, claims(nil)), "", nil, codes.Unauthenticated, 401},
			{"missing required role", good, "", []string{"admin"}, codes.PermissionDenied, 403},
			{"deleted subject", ts.forge(t, "at+jwt", claims(func(m map[string]any) { m["sub"] = "00000000-0000-7000-8000-000000000000" })), "", nil, codes.OK, 200},
			{"empty", "", "", nil, codes.InvalidArgument, 400},
			{"garbage", "not-a-token", "", nil, codes.InvalidArgument, 400},
			{"bad base64url", b64(`{"alg":"ES256","typ":"at+jwt","kid":"k"}`) + ".e30.a+b/", "", nil, codes.InvalidArgument, 400},
			{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], "", nil, codes.InvalidArgument, 400},
			{"header without alg", "e30.e30.e30", "", nil, codes.Unauthenticated, 401},
			{"over 8 KiB", strings.Repeat("a", 8<<10+1), "", nil, codes.InvalidArgument, 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tc.token, Audience: tc.audience, RequiredRoles: tc.roles})
				if status.Code(err) != tc.code {
					t.Errorf("gRPC code = %v (%v), want %v", status.Code(err), err, tc.code)
				}
				body, _ := json.Marshal(map[string]any{"token": tc.token, "audience": tc.audience, "required_roles": tc.roles})
				r := ts.do(t, "POST", "/v1/token:validate", "application/json", string(body), "")
				if r.status != tc.http {
					t.Errorf("HTTP status = %d (%s), want %d", r.status, r.body, tc.http)
				}
				if r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("401 without Bearer challenge: %q", r.header.Get("WWW-Authenticate"))
				}
				if r.status >= 400 && !strings.Contains(string(r.body), `"message"`) {
					t.Errorf("error body without message: %s", r.body)
				}
			})
		}

		// Expiry by the clock: the token works now and fails 16 minutes later.
		if _, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: good}); err != nil {
			t.Fatal(err)
		}
		ts.clock.Advance(16 * time.Minute)
		_, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: good})
		if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "expired") {
			t.Errorf("after 16 min: %v", err)
		}
	})
}

// TestAccountStateReachesTokens: disabling, deleting and role changes act on
// tokens already issued.
func TestAccountStateReachesTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		aliceID, _ := seed(t, ts)
		ctx := ts.adminCtx(t)
		tok := ts.token(t, "alice", "alice-password")
		validate := func() (*gatehousev1.ValidateTokenResponse, error) {
			return ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok})
		}
		if _, err := ts.admin.SetRoles(ctx, &gatehousev1.SetRolesRequest{Id: aliceID, Roles: []string{"editor", "viewer"}}); err != nil {
			t.Fatal(err)
		}
		v, err := validate()
		if err != nil || !slices.Equal(v.Principal.Roles, []string{"editor", "viewer"}) {
			t.Errorf("roles after SetRoles = %v, %v", v.GetPrincipal().GetRoles(), err)
		}
		if _, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: aliceID}); err != nil {
			t.Fatal(err)
		}
		if _, err := validate(); status.Code(err) != codes.PermissionDenied {
			t.Errorf("disabled: %v", err)
		}
		if _, err := ts.admin.EnableUser(ctx, &gatehousev1.EnableUserRequest{Id: aliceID}); err != nil {
			t.Fatal(err)
		}
		if _, err := validate(); err != nil {
			t.Errorf("re-enabled: %v", err)
		}
		if _, err := ts.admin.DeleteUser(ctx, &gatehousev1.DeleteUserRequest{Id: aliceID}); err != nil {
			t.Fatal(err)
		}
		if _, err := validate(); status.Code(err) != codes.Unauthenticated {
			t.Errorf("deleted: %v", err)
		}
		// A replica started after the delete knows it too (from the change log).
		r := ts.replica(t)
		if _, err := r.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("deleted, on a new replica: %v", err)
		}
	})
}

// TestReplicaSeesDisableWithin5s: a second server on the same database refuses
// a disabled account's token within 5 seconds, with no database on the path.
func TestReplicaSeesDisableWithin5s(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		aliceID, _ := seed(t, ts)
		b := ts.replica(t, func(c *server.Config) { c.View.PollInterval = time.Second })
		tok := ts.token(t, "alice", "alice-password")
		if _, err := b.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok}); err != nil {
			t.Fatalf("replica before disable: %v", err)
		}
		if _, err := ts.admin.DisableUser(ts.adminCtx(t), &gatehousev1.DisableUserRequest{Id: aliceID}); err != nil {
			t.Fatal(err)
		}
		took := eventually(t, 5*time.Second, "replica refuses disabled user", func() error {
			_, err := b.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok})
			if status.Code(err) == codes.PermissionDenied {
				return nil
			}
			return fmt.Errorf("still %v", err)
		})
		t.Logf("replica refused the disabled account after %s", took)
	})
}

func TestJWKSRoundTripWithGenericLibrary(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		tok := ts.token(t, "alice", "alice-password")
		r := ts.do(t, "GET", "/.well-known/jwks.json", "", "", "")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
			t.Fatalf("jwks = %d %v", r.status, r.header)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(r.body, &top); err != nil || len(top) != 1 || top["keys"] == nil {
			t.Fatalf("JWKS must be exactly {\"keys\":[...]}: %s", r.body)
		}
		for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
			if strings.Contains(string(r.body), private) {
				t.Errorf("JWKS contains private member %s", private)
			}
		}
		set, err := jwk.Parse(r.body)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithIssuer("http://localhost:8080"), jwt.WithAudience("gatehouse"), jwt.WithClock(jwt.ClockFunc(ts.clock.Now)))
		if err != nil {
			t.Fatalf("jwx rejects a gatehouse token: %v", err)
		}
		if sub := parsed.Subject(); sub == "" {
			t.Error("no subject")
		}
		// ETag and conditional GET.
		etag := r.header.Get("ETag")
		req, _ := http.NewRequest("GET", ts.baseURL+"/.well-known/jwks.json", nil)
		req.Header.Set("If-None-Match", etag)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if etag == "" || res.StatusCode != http.StatusNotModified {
			t.Errorf("conditional GET = %d (etag %q)", res.StatusCode, etag)
		}
		// The gRPC GetJWKS carries the same key, with only an EC key's
		// members, and so does the REST /v1/jwks.
		g, err := ts.auth.GetJWKS(context.Background(), &gatehousev1.GetJWKSRequest{})
		if err != nil || len(g.Keys) != 1 || g.Keys[0].GetKid() != parsedKID(t, tok) || g.Keys[0].GetUse() != "sig" || g.Keys[0].GetAlg() != "ES256" {
			t.Errorf("GetJWKS = %v, %v", g, err)
		}
		if k := g.GetKeys()[0]; k.N != nil || k.E != nil || k.GetCrv() != "P-256" || k.GetX() == "" || k.GetY() == "" {
			t.Errorf("GetJWKS EC key = %v", k)
		}
		var wellKnown, rest struct{ Keys []map[string]any }
		if err := json.Unmarshal(r.body, &wellKnown); err != nil {
			t.Fatal(err)
		}
		v1 := ts.do(t, "GET", "/v1/jwks", "", "", "")
		if err := json.Unmarshal(v1.body, &rest); err != nil || v1.status != 200 {
			t.Fatalf("/v1/jwks = %d %s", v1.status, v1.body)
		}
		if !reflect.DeepEqual(rest, wellKnown) {
			t.Errorf("/v1/jwks %s differs from /.well-known/jwks.json %s", v1.body, r.body)
		}
	})
}

func parsedKID(t *testing.T, tok string) string {
	h, _ := decodeJWT(t, tok)
	return h["kid"].(string)
}

func decodeJWT(t testing.TB, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func flipLast(s string) string {
	b := []byte(s)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}

// hs256 signs header.payload with HMAC-SHA256 keyed by the server's public
// key: the classic algorithm-confusion forgery.
func hs256(t *testing.T, kid, payload string, publicKey []byte) string {
	t.Helper()
	input := b64(`{"alg":"HS256","typ":"at+jwt","kid":"`+kid+`"}`) + "." + payload
	mac := hmac.New(sha256.New, publicKey)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
