package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// rpRedirect is the relying party's redirect URI; nothing listens there:
// the browser stops at the redirect and the test reads its Location.
const rpRedirect = "http://127.0.0.1:9/cb"

// oidcEnv is a self-issued server with a user and an OIDC client.
type oidcEnv struct {
	ts       *testServer
	issuer   string
	clientID string
	secret   string // "" for a public client
	provider *oidc.Provider
	conf     *oauth2.Config
}

func newOIDCEnv(t *testing.T, dsn string, public bool) *oidcEnv {
	t.Helper()
	ts, issuer := startSelfIssued(t, dsn, "")
	ctx := ts.adminCtx(t)
	if _, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{
		Username: "alice", Password: "alice-password-1", Email: "alice@example.com", DisplayName: "Alice A",
	}); err != nil {
		t.Fatal(err)
	}
	cr, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: "webapp"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := ts.admin.SetClientOAuthSettings(ctx, &gatehousev1.SetClientOAuthSettingsRequest{
		Id: cr.GetClient().GetId(),
		Settings: &gatehousev1.ClientOAuthSettings{
			RedirectUris: []string{rpRedirect}, PostLogoutRedirectUris: []string{"http://127.0.0.1:9/bye"},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Public: public, FirstParty: true,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if set.GetHasSecret() == public {
		t.Fatalf("has_secret = %v for public=%v", set.GetHasSecret(), public)
	}
	e := &oidcEnv{ts: ts, issuer: issuer, clientID: "webapp"}
	if !public {
		e.secret = cr.GetClientSecret()
	}
	e.provider, err = oidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	e.conf = &oauth2.Config{ClientID: e.clientID, ClientSecret: e.secret, Endpoint: e.provider.Endpoint(),
		RedirectURL: rpRedirect, Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	return e
}

// browser is a cookie-keeping client that follows redirects within the
// server and stops at any other host.
func (e *oidcEnv) browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(e.ts.baseURL)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != base.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// authorize runs the browser part: the authorization request, the login
// form when asked for, and returns the redirect to the client.
func (e *oidcEnv) authorize(t *testing.T, b *http.Client, authURL string) *url.URL {
	t.Helper()
	res, err := b.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusOK && strings.Contains(res.Request.URL.Path, "/auth/login") {
		form := url.Values{"username": {"alice"}, "password": {"alice-password-1"}}
		for _, m := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
			form.Set(m[1], html.UnescapeString(m[2]))
		}
		if res, err = b.PostForm(e.ts.baseURL+"/auth/login", form); err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize ended with %d at %s: %.300s", res.StatusCode, res.Request.URL, body)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// codeFlow runs a whole code flow and returns the redirect's parameters.
func (e *oidcEnv) code(t *testing.T, b *http.Client, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	loc := e.authorize(t, b, e.conf.AuthCodeURL("st-1", opts...))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != rpRedirect {
		t.Fatalf("redirected to %s, want %s", loc, rpRedirect)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != "st-1" || q.Get("iss") != e.issuer || q.Get("code") == "" {
		t.Fatalf("redirect parameters %v", q)
	}
	return q
}

func forEachOIDCBackend(t *testing.T, public bool, fn func(t *testing.T, e *oidcEnv)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, newOIDCEnv(t, b.DSN(t), public))
		})
	}
}

func TestOIDCCodeFlow(t *testing.T) {
	for _, public := range []bool{false, true} {
		name := "confidential"
		if public {
			name = "public"
		}
		t.Run(name, func(t *testing.T) {
			forEachOIDCBackend(t, public, func(t *testing.T, e *oidcEnv) {
				ctx := context.Background()
				b := e.browser(t)
				verifier := oauth2.GenerateVerifier()
				q := e.code(t, b, oauth2.S256ChallengeOption(verifier), oidc.Nonce("n-0S6_WzA2Mj"))
				tok, err := e.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
				if err != nil {
					t.Fatalf("exchange: %v", err)
				}
				raw, _ := tok.Extra("id_token").(string)
				idt, err := e.provider.Verifier(&oidc.Config{ClientID: e.clientID}).Verify(ctx, raw)
				if err != nil {
					t.Fatalf("verify ID token: %v", err)
				}
				var claims struct {
					Nonce, Sid, Azp, Email, Name string
					PreferredUsername            string `json:"preferred_username"`
					AuthTime                     int64  `json:"auth_time"`
				}
				if err := idt.Claims(&claims); err != nil {
					t.Fatal(err)
				}
				if claims.Nonce != "n-0S6_WzA2Mj" || claims.Azp != e.clientID || claims.Sid == "" || claims.AuthTime == 0 ||
					claims.PreferredUsername != "alice" || claims.Email != "alice@example.com" || claims.Name != "Alice A" {
					t.Errorf("ID token claims %+v", claims)
				}
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Errorf("at_hash: %v", err)
				}
				if alg := jwtAlg(t, raw); alg != "RS256" {
					t.Errorf("ID token alg %s, want RS256", alg)
				}
				ui, err := e.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
				if err != nil {
					t.Fatalf("userinfo: %v", err)
				}
				if ui.Subject != idt.Subject || ui.Email != "alice@example.com" {
					t.Errorf("userinfo %+v, ID token sub %s", ui, idt.Subject)
				}
				// The refresh token rotates and is bound to the browser session.
				if tok.RefreshToken == "" {
					t.Fatal("no refresh token")
				}
				tok.Expiry = time.Now().Add(-time.Hour)
				fresh, err := e.conf.TokenSource(ctx, tok).Token()
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				if fresh.RefreshToken == tok.RefreshToken {
					t.Error("refresh token not rotated")
				}
				// RP-initiated logout ends the session: the refreshed access token dies.
				lo := e.ts.baseURL + "/oauth2/logout?" + url.Values{"id_token_hint": {raw},
					"post_logout_redirect_uri": {"http://127.0.0.1:9/bye"}, "state": {"s2"}}.Encode()
				res, err := b.Get(lo)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "http://127.0.0.1:9/bye?state=s2" {
					t.Fatalf("logout: %d %s", res.StatusCode, res.Header.Get("Location"))
				}
				eventually(t, 5*time.Second, "session revoked", func() error {
					if _, err := e.provider.UserInfo(ctx, oauth2.StaticTokenSource(fresh)); err == nil {
						return errors.New("userinfo still answers")
					}
					return nil
				})
				// The browser must sign in again.
				res, err = b.Get(e.conf.AuthCodeURL("x", oauth2.S256ChallengeOption(verifier)))
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if !strings.HasPrefix(res.Request.URL.Path, "/auth/login") {
					t.Errorf("after logout the authorization request went to %s", res.Request.URL)
				}
			})
		})
	}
}

func jwtAlg(t *testing.T, tok string) string {
	t.Helper()
	m := regexp.MustCompile(`"alg":"([^"]+)"`)
	b, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if s := m.FindStringSubmatch(string(b)); s != nil {
		return s[1]
	}
	return ""
}

// exchangeErr returns the OAuth error code of a failed exchange.
func exchangeErr(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestOIDCTokenRefusals(t *testing.T) {
	type tc struct {
		name string
		// exchange redeems the code the way the case needs and returns the
		// error code the server must answer.
		exchange func(t *testing.T, e *oidcEnv, code, verifier string) error
		want     string
	}
	ctx := context.Background()
	cases := []tc{
		{"wrong redirect URI", func(t *testing.T, e *oidcEnv, code, verifier string) error {
			c := *e.conf
			c.RedirectURL = "http://127.0.0.1:9/other"
			_, err := c.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			return err
		}, "invalid_grant"},
		{"missing verifier", func(t *testing.T, e *oidcEnv, code, _ string) error {
			_, err := e.conf.Exchange(ctx, code)
			return err
		}, "invalid_grant"},
		{"wrong verifier", func(t *testing.T, e *oidcEnv, code, _ string) error {
			_, err := e.conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
			return err
		}, "invalid_grant"},
		{"expired code", func(t *testing.T, e *oidcEnv, code, verifier string) error {
			e.ts.clock.Advance(61 * time.Second)
			_, err := e.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			return err
		}, "invalid_grant"},
		{"wrong client secret", func(t *testing.T, e *oidcEnv, code, verifier string) error {
			c := *e.conf
			c.ClientSecret = "ghcs_wrong"
			_, err := c.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			return err
		}, "invalid_client"},
		{"unknown code", func(t *testing.T, e *oidcEnv, _, verifier string) error {
			_, err := e.conf.Exchange(ctx, "ghac_"+strings.Repeat("A", 43), oauth2.VerifierOption(verifier))
			return err
		}, "invalid_grant"},
		{"reused code revokes its tokens", func(t *testing.T, e *oidcEnv, code, verifier string) error {
			tok, err := e.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("first exchange: %v", err)
			}
			if _, err := e.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
				t.Fatalf("userinfo before the replay: %v", err)
			}
			_, err = e.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			eventually(t, 5*time.Second, "tokens of the replayed code revoked", func() error {
				if _, err := e.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
					return errors.New("the access token still works")
				}
				return nil
			})
			tok.Expiry = time.Now().Add(-time.Hour)
			if _, rerr := e.conf.TokenSource(ctx, tok).Token(); exchangeErr(rerr) != "invalid_grant" {
				t.Errorf("refresh after the replay: %v, want invalid_grant", rerr)
			}
			return err
		}, "invalid_grant"},
	}
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newOIDCEnv(t, b.DSN(t), false)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					verifier := oauth2.GenerateVerifier()
					q := e.code(t, e.browser(t), oauth2.S256ChallengeOption(verifier))
					if got := exchangeErr(c.exchange(t, e, q.Get("code"), verifier)); got != c.want {
						t.Errorf("error %q, want %q", got, c.want)
					}
				})
			}
		})
	}
}

func TestOIDCAuthorizeRefusals(t *testing.T) {
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := url.Values{"response_type": {"code"}, "client_id": {"webapp"}, "redirect_uri": {rpRedirect},
		"scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range base {
			v[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	cases := []struct {
		name   string
		params url.Values
		// page: an error page, never a redirect; else the error code sent
		// to the redirect URI.
		page bool
		want string
	}{
		{"unknown client", with("client_id", "nope"), true, ""},
		{"no client", with("client_id", ""), true, ""},
		{"unregistered redirect", with("redirect_uri", "https://evil.example/cb"), true, ""},
		{"redirect with other path", with("redirect_uri", "http://127.0.0.1:9/cb/../evil"), true, ""},
		{"redirect with fragment", with("redirect_uri", rpRedirect+"#x"), true, ""},
		{"redirect with extra query", with("redirect_uri", rpRedirect+"?next=https://evil.example"), true, ""},
		{"no redirect", with("redirect_uri", ""), true, ""},
		{"prompt=none without session", with("prompt", "none"), false, "login_required"},
		{"token response type", with("response_type", "token"), false, "unsupported_response_type"},
		{"no response type", with("response_type", ""), false, "invalid_request"},
		{"public client without PKCE", with("code_challenge", "", "code_challenge_method", ""), false, "invalid_request"},
		{"plain PKCE", with("code_challenge_method", "plain"), false, "invalid_request"},
		{"unknown scope", with("scope", "openid admin"), false, "invalid_scope"},
		{"request object", with("request", "eyJ.x.y"), false, "request_not_supported"},
	}
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newOIDCEnv(t, b.DSN(t), true)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					res, err := e.browser(t).Get(e.ts.baseURL + "/oauth2/authorize?" + c.params.Encode())
					if err != nil {
						t.Fatal(err)
					}
					res.Body.Close()
					if c.page {
						if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
							t.Fatalf("status %d, Location %q; want an error page", res.StatusCode, res.Header.Get("Location"))
						}
						return
					}
					loc, _ := url.Parse(res.Header.Get("Location"))
					if res.StatusCode != http.StatusSeeOther || loc.Scheme+"://"+loc.Host+loc.Path != rpRedirect {
						t.Fatalf("status %d, Location %q; want a redirect to the client", res.StatusCode, loc)
					}
					q := loc.Query()
					if q.Get("error") != c.want || q.Get("state") != "s" || q.Get("iss") != e.issuer || q.Get("code") != "" {
						t.Errorf("redirect parameters %v, want error %s", q, c.want)
					}
				})
			}
		})
	}
}

// authlibValidate runs authlib's RFC 8414 and OpenID Connect Discovery
// metadata validators on the document on standard input.
const authlibValidate = `
import json, sys
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
doc = json.load(sys.stdin)
AuthorizationServerMetadata(doc).validate()
OpenIDProviderMetadata(doc).validate()
`

// TestOIDCDiscoveryAuthlib checks the discovery document of an https
// issuer with authlib (Debian's python3-authlib, .ci/tools.sh).
func TestOIDCDiscoveryAuthlib(t *testing.T) {
	python := ""
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import authlib").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		t.Skip("python3 with authlib (Debian python3-authlib) is not installed; run .ci/tools.sh")
	}
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, "", func(c *server.Config) {
				c.Core.Issuer = "https://auth.example.com"
				c.SigningAlg = alg
			})
			res := ts.do(t, http.MethodGet, "/.well-known/openid-configuration", "", "", "")
			if res.status != http.StatusOK {
				t.Fatalf("status %d", res.status)
			}
			cmd := exec.Command(python, "-c", authlibValidate)
			cmd.Stdin = bytes.NewReader(res.body)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("authlib refused the document: %v\n%s\n%s", err, out, res.body)
			}
			doc := res.json(t)
			for _, m := range []string{"authorization_endpoint", "userinfo_endpoint", "end_session_endpoint"} {
				if s, _ := doc[m].(string); !strings.HasPrefix(s, "https://auth.example.com/oauth2/") {
					t.Errorf("%s = %v", m, doc[m])
				}
			}
			if !slices.Contains(anyStrings(doc["id_token_signing_alg_values_supported"]), "RS256") ||
				!slices.Contains(anyStrings(doc["token_endpoint_auth_methods_supported"]), "none") ||
				!slices.Equal(anyStrings(doc["code_challenge_methods_supported"]), []string{"S256"}) ||
				doc["authorization_response_iss_parameter_supported"] != true {
				t.Errorf("document %s", res.body)
			}
		})
	}
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestOIDCPublicClientRevokes: a public client revokes its own tokens at
// /oauth2/revoke and over gRPC by its client_id alone (RFC 7009 section
// 2.1), and only its own; an unknown or confidential client_id alone is
// still a failed client authentication.
func TestOIDCPublicClientRevokes(t *testing.T) {
	forEachOIDCBackend(t, true, func(t *testing.T, e *oidcEnv) {
		ctx := context.Background()
		b := e.browser(t)
		exchange := func() *oauth2.Token {
			t.Helper()
			verifier := oauth2.GenerateVerifier()
			q := e.code(t, b, oauth2.S256ChallengeOption(verifier))
			tok, err := e.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			return tok
		}
		revoke := func(token string, extra ...string) httpResult {
			return e.ts.o2(t, o2Req{path: "/oauth2/revoke", body: o2Form(append([]string{"token", token}, extra...)...)})
		}
		// A token of another client (the password grant's default client).
		foreign := o2WantToken(t, e.ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password-1")}))
		o2WantError(t, revoke(foreign.RefreshToken, "client_id", e.clientID), 400, "unauthorized_client")
		o2WantError(t, revoke(foreign.AccessToken, "client_id", e.clientID), 400, "unauthorized_client")
		e.ts.o2MustValidate(t, foreign.AccessToken)
		// Unknown and confidential clients still need their secret.
		o2WantError(t, revoke(foreign.RefreshToken, "client_id", "no-such-client"), 401, "invalid_client")
		if _, err := e.ts.admin.CreateServiceClient(e.ts.adminCtx(t), &gatehousev1.CreateServiceClientRequest{ClientId: "backend"}); err != nil {
			t.Fatal(err)
		}
		o2WantError(t, revoke(foreign.RefreshToken, "client_id", "backend"), 401, "invalid_client")

		// Its own refresh token: the session ends, the access token with it.
		tok := exchange()
		if r := revoke(tok.RefreshToken, "client_id", e.clientID, "token_type_hint", "refresh_token"); r.status != 200 || len(r.body) != 0 {
			t.Fatalf("revoke = %d %q", r.status, r.body)
		}
		o2WantError(t, e.ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", tok.RefreshToken, "client_id", e.clientID)}), 400, "invalid_grant")
		eventually(t, 5*time.Second, "access token refused", func() error {
			if _, err := e.ts.o2Validate(tok.AccessToken); status.Code(err) != codes.Unauthenticated {
				return fmt.Errorf("ValidateToken: %v", err)
			}
			return nil
		})
		// Over gRPC, an access token alone.
		tok = exchange()
		if _, err := e.ts.auth.RevokeToken(ctx, &gatehousev1.RevokeTokenRequest{Token: tok.AccessToken, ClientId: e.clientID}); err != nil {
			t.Fatalf("gRPC RevokeToken: %v", err)
		}
		eventually(t, 5*time.Second, "access token refused", func() error {
			if _, err := e.ts.o2Validate(tok.AccessToken); status.Code(err) != codes.Unauthenticated {
				return fmt.Errorf("ValidateToken: %v", err)
			}
			return nil
		})
		if _, err := e.ts.auth.RevokeToken(ctx, &gatehousev1.RevokeTokenRequest{Token: foreign.AccessToken, ClientId: e.clientID}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("gRPC RevokeToken of another client's token: %v, want PERMISSION_DENIED", err)
		}
	})
}

// TestOIDCLogoutHintClaimNames: the logout endpoint reads an id_token_hint's
// claims by their exact names (RFC 7519): "AUD" is not "aud".
func TestOIDCLogoutHintClaimNames(t *testing.T) {
	forEachOIDCBackend(t, false, func(t *testing.T, e *oidcEnv) {
		now := e.ts.clock.Now().Unix()
		hint := func(edit func(m map[string]any)) string {
			m := map[string]any{"iss": e.issuer, "sub": "someone", "aud": e.clientID, "azp": e.clientID, "iat": now, "exp": now + 300}
			if edit != nil {
				edit(m)
			}
			return e.ts.forge(t, "JWT", m)
		}
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		logout := func(h string) int {
			t.Helper()
			res, err := noRedirect.Get(e.ts.baseURL + "/oauth2/logout?" + url.Values{"id_token_hint": {h},
				"post_logout_redirect_uri": {"http://127.0.0.1:9/bye"}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		if got := logout(hint(nil)); got != http.StatusSeeOther {
			t.Fatalf("logout with a valid hint: %d, want 303", got)
		}
		for _, name := range []string{"aud", "azp", "iss"} {
			upper := strings.ToUpper(name)
			if got := logout(hint(func(m map[string]any) { m[upper] = m[name]; delete(m, name) })); got != http.StatusBadRequest {
				t.Errorf("logout with %s spelled %s: %d, want 400", name, upper, got)
			}
		}
	})
}
