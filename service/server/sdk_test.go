package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/sdk/go/example/greeter"
	"github.com/gatehouse/gatehouse/sdk/go/gatehouse"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// sdkClient creates a service client with roles and returns a token
// source of it through the SDK (client_credentials over /oauth2/token).
func (ts *testServer) sdkClient(t testing.TB, id string, roles ...string) *gatehouseCreds {
	t.Helper()
	c, err := ts.admin.CreateServiceClient(ts.adminCtx(t), &gatehousev1.CreateServiceClientRequest{ClientId: id, Roles: roles})
	if err != nil {
		t.Fatalf("create client %s: %v", id, err)
	}
	src := gatehouse.ClientCredentials(context.Background(), gatehouse.ClientCredentialsConfig{
		TokenURL: ts.baseURL + "/oauth2/token", ClientID: id, ClientSecret: c.ClientSecret,
	})
	return &gatehouseCreds{id: id, tokens: src}
}

type gatehouseCreds struct {
	id     string
	tokens oauth2.TokenSource
}

// sdkVerifier starts a Verifier against ts (JWKS over HTTP, revocation push
// and remote validation over gRPC as the watcher client).
func (ts *testServer) sdkVerifier(t testing.TB, watcher *gatehouseCreds, change func(*gatehouse.Options)) *gatehouse.Verifier {
	t.Helper()
	cfg := ts.app.Core().Config()
	opts := gatehouse.Options{
		Issuer: cfg.Issuer, Audience: cfg.Audience, JWKSURL: ts.baseURL + "/.well-known/jwks.json",
		Conn: ts.conn, RefetchInterval: 100 * time.Millisecond,
	}
	if watcher != nil {
		opts.WatchCredentials = gatehouse.PerRPCCredentials(watcher.tokens, true)
	}
	if change != nil {
		change(&opts)
	}
	v, err := gatehouse.NewVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	if opts.Conn != nil && !opts.DisableRevocationPush {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := v.WaitCurrent(ctx); err != nil {
			t.Fatalf("revocation state never current: %v", err)
		}
	}
	return v
}

func sdkCode(err error) gatehouse.Code {
	var e *gatehouse.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestSDKVerifier(t *testing.T) {
	ts := startServer(t, "")
	v := ts.sdkVerifier(t, ts.sdkClient(t, "watcher"), nil)
	cfg := ts.app.Core().Config()
	now := ts.clock.Now()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": cfg.Issuer, "sub": "some-account", "aud": cfg.Audience, "exp": now.Add(5 * time.Minute).Unix(),
			"iat": now.Unix(), "nbf": now.Unix(), "jti": "forged", "client_id": "gatehouse", "roles": []string{"viewer"}, "scope": "openid",
		}
		if change != nil {
			change(c)
		}
		return c
	}
	admin := ts.adminToken(t)
	cases := []struct {
		name  string
		token string
		req   gatehouse.Requirement
		want  gatehouse.Code
	}{
		{"a real token", admin, gatehouse.Requirement{Roles: []string{"admin"}}, 0},
		{"a signed token", ts.forge(t, "at+jwt", claims(nil)), gatehouse.Requirement{Roles: []string{"viewer"}, Scopes: []string{"openid"}}, 0},
		{"missing role", admin, gatehouse.Requirement{Roles: []string{"auditor"}}, gatehouse.CodePermissionDenied},
		{"missing scope", admin, gatehouse.Requirement{Scopes: []string{"email"}}, gatehouse.CodePermissionDenied},
		{"other audience", ts.forge(t, "at+jwt", claims(func(c map[string]any) { c["aud"] = "another-service" })), gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
		{"other issuer", ts.forge(t, "at+jwt", claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
		{"expired", ts.forge(t, "at+jwt", claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
		{"expired within leeway", ts.forge(t, "at+jwt", claims(func(c map[string]any) { c["exp"] = now.Add(-10 * time.Second).Unix() })), gatehouse.Requirement{}, 0},
		{"not yet valid", ts.forge(t, "at+jwt", claims(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() })), gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
		{"issued in the future", ts.forge(t, "at+jwt", claims(func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() })), gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
		{"an ID token (typ JWT)", ts.forge(t, "JWT", claims(nil)), gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
		{"unknown kid", ts.forgeKey(t, func(k *jose.PrivateKey) { k.KID = "nope" }, claims(nil)), gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
		{"alg none", unsigned(claims(nil)), gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
		{"tampered", tamper(admin), gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
		{"garbage", "not.a.token", gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
		{"too large", strings.Repeat("a", 9000), gatehouse.Requirement{}, gatehouse.CodeUnauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.token, tc.req)
			if got := sdkCode(err); got != tc.want {
				t.Fatalf("Verify = %v (code %d), want code %d", err, got, tc.want)
			}
			if err == nil && (p.Subject == "" || p.TokenID == "" || p.ExpiresAt.IsZero()) {
				t.Errorf("principal %+v lacks subject, token id or expiry", p)
			}
			if err != nil && strings.Contains(err.Error(), tc.token) {
				t.Error("the error repeats the token")
			}
		})
	}
	t.Run("principal", func(t *testing.T) {
		p, err := v.Verify(context.Background(), admin, gatehouse.Requirement{})
		if err != nil {
			t.Fatal(err)
		}
		want, err := ts.validate(admin)
		if err != nil {
			t.Fatal(err)
		}
		w := want.Principal
		if p.Subject != w.Subject || p.Username != "admin" || p.ClientID != w.ClientId || p.SessionID != w.SessionId || p.TokenID != w.TokenId || !p.ExpiresAt.Equal(w.ExpiresAt.AsTime()) {
			t.Errorf("principal %+v, gatehouse says %v", p, w)
		}
	})
}

// TestSDKRefusesRevocationsWithin1s: with two replicas on one database, a
// revocation committed on replica A is refused by an SDK watching replica B.
// The goal is 1 s (the poll interval of the test servers is 200 ms); the
// test logs the time and fails only past 5 s.
func TestSDKRefusesRevocationsWithin1s(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			a := startServer(t, b.DSN(t))
			rb := a.replica(t)
			v := rb.sdkVerifier(t, a.sdkClient(t, "watcher"), nil)
			ctx := a.adminCtx(t)
			newUser := func(name string) (id string, login *gatehousev1.IssueTokenResponse) {
				u, err := a.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: name, Password: name + "-password"})
				if err != nil {
					t.Fatal(err)
				}
				return u.Id, a.login(t, name, name+"-password", "")
			}
			cases := []struct {
				name   string
				revoke func(id string, login *gatehousev1.IssueTokenResponse) error
			}{
				{"access token", func(_ string, l *gatehousev1.IssueTokenResponse) error {
					_, err := a.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: l.AccessToken})
					return err
				}},
				{"session", func(_ string, l *gatehousev1.IssueTokenResponse) error {
					_, err := a.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: l.RefreshToken})
					return err
				}},
				{"all of the account", func(id string, _ *gatehousev1.IssueTokenResponse) error {
					_, err := a.admin.RevokeAllSessions(ctx, &gatehousev1.RevokeAllSessionsRequest{Id: id})
					return err
				}},
				{"disabled account", func(id string, _ *gatehousev1.IssueTokenResponse) error {
					_, err := a.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: id})
					return err
				}},
				{"deleted account", func(id string, _ *gatehousev1.IssueTokenResponse) error {
					_, err := a.admin.DeleteUser(ctx, &gatehousev1.DeleteUserRequest{Id: id})
					return err
				}},
			}
			for i, tc := range cases {
				id, login := newUser(fmt.Sprintf("user%d", i))
				// The account may be new to replica B: its view accepts it.
				eventually(t, 5*time.Second, tc.name+": accepted before", func() error {
					_, err := v.Verify(context.Background(), login.AccessToken, gatehouse.Requirement{})
					return err
				})
				start := time.Now()
				if err := tc.revoke(id, login); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				took := eventually(t, 5*time.Second, tc.name+": refused", func() error {
					if _, err := v.Verify(context.Background(), login.AccessToken, gatehouse.Requirement{}); sdkCode(err) != gatehouse.CodeUnauthenticated {
						return fmt.Errorf("Verify = %v", err)
					}
					return nil
				})
				t.Logf("%s: refused by the SDK watching replica B %s after the revocation on replica A (goal 1s; %s after the revoke call returned)",
					tc.name, time.Since(start).Round(time.Millisecond), took.Round(time.Millisecond))
			}
		})
	}
}

// TestSDKStaleStateIsNotTrusted: once the stream has been silent longer
// than StaleAfter, the Verifier asks gatehouse, or refuses.
func TestSDKStaleStateIsNotTrusted(t *testing.T) {
	ts := startServer(t, "") // heartbeats every 15 s: longer than StaleAfter below
	watcher := ts.sdkClient(t, "watcher")
	admin := ts.adminToken(t)
	cases := []struct {
		name       string
		noFallback bool
		want       gatehouse.Code
	}{
		{"remote fallback", false, 0},
		{"no fallback", true, gatehouse.CodeUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := ts.sdkVerifier(t, watcher, func(o *gatehouse.Options) {
				o.StaleAfter, o.NoRemoteFallback = 300*time.Millisecond, tc.noFallback
			})
			eventually(t, 5*time.Second, "state stale", func() error {
				if v.Current() {
					return errors.New("still current")
				}
				return nil
			})
			if _, err := v.Verify(context.Background(), admin, gatehouse.Requirement{}); sdkCode(err) != tc.want {
				t.Fatalf("Verify = %v, want code %d", err, tc.want)
			}
		})
	}
}

func TestSDKRemoteMode(t *testing.T) {
	ts := startServer(t, "")
	v := ts.sdkVerifier(t, nil, func(o *gatehouse.Options) { o.Remote, o.DisableRevocationPush = true, true })
	admin := ts.adminToken(t)
	p, err := v.Verify(context.Background(), admin, gatehouse.Requirement{Roles: []string{"admin"}})
	if err != nil || p.Username != "admin" {
		t.Fatalf("remote Verify = %+v, %v", p, err)
	}
	if _, err := v.Verify(context.Background(), admin, gatehouse.Requirement{Roles: []string{"auditor"}}); sdkCode(err) != gatehouse.CodePermissionDenied {
		t.Fatalf("missing role: %v", err)
	}
	if _, err := v.Verify(context.Background(), "garbage", gatehouse.Requirement{}); sdkCode(err) != gatehouse.CodeUnauthenticated {
		t.Fatalf("garbage: %v", err)
	}
}

// TestSDKExampleGreeter runs the example service behind the interceptors
// and its client with the client_credentials token source.
func TestSDKExampleGreeter(t *testing.T) {
	ts := startServer(t, "")
	v := ts.sdkVerifier(t, ts.sdkClient(t, "watcher"), nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := greeter.NewServer(v)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	dial := func(opts ...grpc.DialOption) *grpc.ClientConn {
		conn, err := grpc.NewClient(lis.Addr().String(), append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	caller := ts.sdkClient(t, "billing", greeter.Role)
	norole := ts.sdkClient(t, "norole")
	cases := []struct {
		name string
		conn *grpc.ClientConn
		want codes.Code
	}{
		{"client with the role", dial(grpc.WithPerRPCCredentials(gatehouse.PerRPCCredentials(caller.tokens, true))), codes.OK},
		{"client without it", dial(grpc.WithPerRPCCredentials(gatehouse.PerRPCCredentials(norole.tokens, true))), codes.PermissionDenied},
		{"no token", dial(), codes.Unauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := greeter.Hello(context.Background(), tc.conn, "world")
			if status.Code(err) != tc.want {
				t.Fatalf("Hello = %q, %v; want %s", msg, err, tc.want)
			}
			if tc.want == codes.OK && msg != "hello world, from billing" {
				t.Errorf("Hello = %q", msg)
			}
		})
	}
	t.Run("insecure transport refused", func(t *testing.T) {
		// grpc-go refuses the connection itself (RequireTransportSecurity).
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(gatehouse.PerRPCCredentials(caller.tokens, false)))
		if err == nil {
			defer conn.Close()
			if _, err := greeter.Hello(context.Background(), conn, "world"); err == nil {
				t.Fatal("a token was sent over plaintext")
			}
		}
	})
}

func TestSDKMiddleware(t *testing.T) {
	ts := startServer(t, "")
	v := ts.sdkVerifier(t, ts.sdkClient(t, "watcher"), nil)
	h := gatehouse.Middleware(v, gatehouse.Requirement{Roles: []string{"admin"}})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := gatehouse.FromContext(r.Context())
		fmt.Fprint(w, p.Username)
	}))
	user, err := ts.admin.CreateUser(ts.adminCtx(t), &gatehousev1.CreateUserRequest{Username: "hal", Password: "hal-password"})
	if err != nil || user.Id == "" {
		t.Fatal(err)
	}
	cases := []struct {
		name, auth string
		status     int
		challenge  string
	}{
		{"admin", "Bearer " + ts.adminToken(t), http.StatusOK, ""},
		{"lowercase scheme", "bearer " + ts.adminToken(t), http.StatusOK, ""},
		{"no token", "", http.StatusUnauthorized, `Bearer realm="gatehouse"`},
		{"bad token", "Bearer nope", http.StatusUnauthorized, `error="invalid_token"`},
		{"without the role", "Bearer " + ts.token(t, "hal", "hal-password"), http.StatusForbidden, `error="insufficient_scope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) || (tc.challenge == "") != (got == "") {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if tc.status == http.StatusOK && w.Body.String() != "admin" {
				t.Errorf("body %q", w.Body)
			}
		})
	}
}

func TestSDKOfflineTokenSource(t *testing.T) {
	ts := startServer(t, "")
	v := ts.sdkVerifier(t, ts.sdkClient(t, "watcher"), nil)
	offline := ts.login(t, "admin", ts.adminPW, "offline_access").RefreshToken
	src := gatehouse.OfflineTokenSource(context.Background(), gatehouse.OfflineTokenConfig{TokenURL: ts.baseURL + "/oauth2/token", OfflineToken: offline})
	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(context.Background(), tok.AccessToken, gatehouse.Requirement{Roles: []string{"admin"}}); err != nil || p.Username != "admin" {
		t.Fatalf("renewed token: %+v, %v", p, err)
	}
	again, err := src.Token()
	if err != nil || again.AccessToken != tok.AccessToken {
		t.Errorf("a fresh token was fetched while the first is valid (%v)", err)
	}
}

// BenchmarkSDKValidation compares the SDK's local validation (JWKS and
// revocation state in memory) with a ValidateToken round trip over
// loopback gRPC.
func BenchmarkSDKValidation(b *testing.B) {
	ts := startServer(b, "")
	token := ts.adminToken(b)
	c, err := ts.admin.CreateServiceClient(ts.adminCtx(b), &gatehousev1.CreateServiceClientRequest{ClientId: "watcher"})
	if err != nil {
		b.Fatal(err)
	}
	src := gatehouse.ClientCredentials(context.Background(), gatehouse.ClientCredentialsConfig{TokenURL: ts.baseURL + "/oauth2/token", ClientID: "watcher", ClientSecret: c.ClientSecret})
	v := ts.sdkVerifier(b, &gatehouseCreds{id: "watcher", tokens: src}, nil)
	b.Run("local", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Verify(context.Background(), token, gatehouse.Requirement{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ValidateToken", func(b *testing.B) {
		req := &gatehousev1.ValidateTokenRequest{Token: token}
		for b.Loop() {
			if _, err := ts.auth.ValidateToken(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// unsigned is an alg "none" token with typ at+jwt.
func unsigned(claims map[string]any) string {
	h, _ := json.Marshal(map[string]any{"alg": "none", "typ": "at+jwt", "kid": "x"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

// tamper flips a character of the token's claims.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	b = []byte(strings.Replace(string(b), `"admin"`, `"root!"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}
