package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

const o2FormType = "application/x-www-form-urlencoded"

// o2ForEachBackend is forEachBackend with server options.
func o2ForEachBackend(t *testing.T, opts []serverOption, fn func(t *testing.T, ts *testServer)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, startServer(t, b.DSN(t), opts...))
		})
	}
}

// o2Basic is an RFC 6749 §2.3.1 Authorization header: id and secret
// form-urlencoded, then Basic.
func o2Basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// o2Req is one request to an /oauth2/ endpoint.
type o2Req struct {
	path        string // default /oauth2/token
	query       string
	contentType string // default form
	body        string
	authz       string // Authorization header
}

func (ts *testServer) o2(t testing.TB, q o2Req) httpResult {
	t.Helper()
	if q.path == "" {
		q.path = "/oauth2/token"
	}
	if q.contentType == "" {
		q.contentType = o2FormType
	}
	u := ts.baseURL + q.path
	if q.query != "" {
		u += "?" + q.query
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(q.body))
	if err != nil {
		t.Fatal(err)
	}
	if q.contentType != "-" {
		req.Header.Set("Content-Type", q.contentType)
	}
	if q.authz != "" {
		req.Header.Set("Authorization", q.authz)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", q.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: res.StatusCode, header: res.Header, body: b}
}

// form encodes name/value pairs in order, keeping repeats.
func o2Form(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

// o2Token is a decoded RFC 6749 §5.1 answer.
type o2Token struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// o2WantToken checks a successful token answer and decodes it.
func o2WantToken(t testing.TB, r httpResult) o2Token {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("headers = %v", r.header)
	}
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	for k, v := range raw {
		if !slices.Contains([]string{"access_token", "token_type", "expires_in", "refresh_token", "scope"}, k) || v == "" {
			t.Errorf("unexpected member %s=%v in %s", k, v, r.body)
		}
	}
	if _, ok := raw["expires_in"].(float64); !ok {
		t.Errorf("expires_in is not a number: %s", r.body)
	}
	var a o2Token
	json.Unmarshal(r.body, &a)
	if a.AccessToken == "" || a.TokenType != "Bearer" || a.ExpiresIn != 900 {
		t.Errorf("answer = %s", r.body)
	}
	return a
}

// o2WantError checks an RFC 6749 §5.2 answer.
func o2WantError(t testing.TB, r httpResult, status int, code string) string {
	t.Helper()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("status %d, body not JSON: %s", r.status, r.body)
	}
	if r.status != status || e.Error != code {
		t.Errorf("got %d %s, want %d %s", r.status, r.body, status, code)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("error without Cache-Control: no-store: %v", r.header)
	}
	if status == http.StatusUnauthorized && !slices.Contains(r.header.Values("WWW-Authenticate"), `Basic realm="gatehouse"`) {
		t.Errorf("401 without Basic challenge: %v", r.header.Values("WWW-Authenticate"))
	}
	for _, c := range e.Description {
		if c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			t.Errorf("error_description has %q: %q", c, e.Description)
		}
	}
	return e.Description
}

func (ts *testServer) o2Validate(token string) (*gatehousev1.ValidateTokenResponse, error) {
	return ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: token})
}

func (ts *testServer) o2MustValidate(t testing.TB, token string) *gatehousev1.Principal {
	t.Helper()
	v, err := ts.o2Validate(token)
	if err != nil {
		t.Fatalf("ValidateToken: %v", err)
	}
	return v.Principal
}

func TestOAuth2TokenGrants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		aliceID, secret := seed(t, ts)
		reporter := o2Basic("reporter", secret)

		// Password grant, public client: no client authentication at all,
		// a bare client_id naming the default client, or Basic with it and
		// an empty secret (what stock clients send).
		for name, q := range map[string]o2Req{
			"no client":            {body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password")},
			"bare default id":      {body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password", "client_id", "gatehouse")},
			"basic default client": {body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password"), authz: o2Basic("gatehouse", "")},
			"charset":              {body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password"), contentType: o2FormType + "; charset=UTF-8"},
		} {
			a := o2WantToken(t, ts.o2(t, q))
			if !strings.HasPrefix(a.RefreshToken, "ghr_") || a.Scope != "" {
				t.Errorf("%s: answer = %+v", name, a)
			}
			if p := ts.o2MustValidate(t, a.AccessToken); p.Subject != aliceID || p.ClientId != "gatehouse" {
				t.Errorf("%s: principal = %+v", name, p)
			}
		}
		a := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password", "scope", "openid email")}))
		if a.Scope != "openid email" {
			t.Errorf("scope = %q", a.Scope)
		}

		// Password grant with client authentication, both methods.
		for name, q := range map[string]o2Req{
			"client_secret_basic": {body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password"), authz: reporter},
			"basic and same id":   {body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password", "client_id", "reporter"), authz: reporter},
			"client_secret_post":  {body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password", "client_id", "reporter", "client_secret", secret)},
		} {
			a := o2WantToken(t, ts.o2(t, q))
			if p := ts.o2MustValidate(t, a.AccessToken); p.ClientId != "reporter" || p.Username != "alice" {
				t.Errorf("%s: principal = %+v", name, p)
			}
			// The session belongs to reporter: refreshing needs it.
			r := ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", a.RefreshToken)})
			o2WantError(t, r, http.StatusUnauthorized, "invalid_client")
			b := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", a.RefreshToken), authz: reporter}))
			c := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", b.RefreshToken, "client_id", "reporter", "client_secret", secret)}))
			if p := ts.o2MustValidate(t, c.AccessToken); p.ClientId != "reporter" {
				t.Errorf("%s: refreshed principal = %+v", name, p)
			}
		}

		// Client credentials, both methods; no refresh token.
		for name, q := range map[string]o2Req{
			"client_secret_basic": {body: o2Form("grant_type", "client_credentials"), authz: reporter},
			"client_secret_post":  {body: o2Form("grant_type", "client_credentials", "client_id", "reporter", "client_secret", secret)},
			"scope":               {body: o2Form("grant_type", "client_credentials", "scope", "openid"), authz: reporter},
		} {
			a := o2WantToken(t, ts.o2(t, q))
			if a.RefreshToken != "" {
				t.Errorf("%s: client credentials with a refresh token", name)
			}
			if p := ts.o2MustValidate(t, a.AccessToken); p.Kind != gatehousev1.AccountKind_ACCOUNT_KIND_SERVICE_CLIENT || p.ClientId != "reporter" {
				t.Errorf("%s: principal = %+v", name, p)
			}
		}

		// A client id that needs form-urlencoding in Basic (RFC 6749 §2.3.1):
		// new ids may not contain ':', but one made before that rule (here:
		// renamed in the database) keeps working.
		c, err := ts.admin.CreateServiceClient(ts.adminCtx(t), &gatehousev1.CreateServiceClientRequest{ClientId: "team-billing"})
		if err != nil {
			t.Fatal(err)
		}
		ts.renameClient(t, "team-billing", "team:billing")
		a = o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "client_credentials"), authz: o2Basic("team:billing", c.ClientSecret)}))
		if p := ts.o2MustValidate(t, a.AccessToken); p.ClientId != "team:billing" {
			t.Errorf("principal = %+v", p)
		}
	})
}

func TestOAuth2RefreshRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		login := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password", "scope", "openid email")}))
		next := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", login.RefreshToken)}))
		if next.RefreshToken == "" || next.RefreshToken == login.RefreshToken || !strings.HasPrefix(next.RefreshToken, "ghr_") || next.Scope != "openid email" {
			t.Fatalf("rotation answer = %+v", next)
		}
		ts.o2MustValidate(t, next.AccessToken)
		// A narrower scope is allowed, a wider one is not.
		narrow := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", next.RefreshToken, "scope", "openid")}))
		if narrow.Scope != "openid" {
			t.Errorf("narrowed scope = %q", narrow.Scope)
		}
		o2WantError(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", narrow.RefreshToken, "scope", "profile")}), 400, "invalid_scope")

		// Replaying the first token kills the whole session, successor included.
		o2WantError(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", login.RefreshToken)}), 400, "invalid_grant")
		o2WantError(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", narrow.RefreshToken)}), 400, "invalid_grant")
		if _, err := ts.o2Validate(narrow.AccessToken); status.Code(err) != codes.Unauthenticated {
			t.Errorf("access token of a replayed session: %v", err)
		}

		// Offline tokens refresh without rotation.
		off := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password", "scope", "openid offline_access")}))
		if !strings.HasPrefix(off.RefreshToken, "gho_") || off.Scope != "openid offline_access" {
			t.Fatalf("offline login = %+v", off)
		}
		for i := range 3 {
			r := ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", off.RefreshToken)})
			a := o2WantToken(t, r)
			if a.RefreshToken != "" || strings.Contains(string(r.body), "refresh_token") {
				t.Errorf("refresh %d of an offline token rotated it: %s", i, r.body)
			}
			if p := ts.o2MustValidate(t, a.AccessToken); p.Username != "alice" {
				t.Errorf("principal = %+v", p)
			}
		}
		// The offline token itself validates as the access token it renews,
		// for a service that says it takes offline tokens.
		if v, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: off.RefreshToken, AllowOfflineToken: true}); err != nil || v.Principal.Username != "alice" {
			t.Errorf("ValidateToken(offline, allow_offline_token) = %v, %v", v, err)
		}
		// Without allow_offline_token it is refused.
		if _, err := ts.o2Validate(off.RefreshToken); status.Code(err) != codes.Unauthenticated {
			t.Errorf("ValidateToken(offline) without allow_offline_token = %v, want UNAUTHENTICATED", err)
		}
	})
}

func TestOAuth2TokenErrors(t *testing.T) {
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
		pw := o2Form("grant_type", "password", "username", "alice", "password", "alice-password")
		for _, tc := range []struct {
			name     string
			req      o2Req
			status   int
			code     string
			describe string // part of error_description
		}{
			{"malformed body", o2Req{body: "grant_type=password&username=%zz"}, 400, "invalid_request", "percent-encoding"},
			{"JSON body", o2Req{contentType: "application/json", body: `{"grant_type":"password","username":"alice","password":"alice-password"}`}, 400, "invalid_request", "x-www-form-urlencoded"},
			{"form body labelled text/plain", o2Req{contentType: "text/plain", body: pw}, 400, "invalid_request", "x-www-form-urlencoded"},
			{"no content type", o2Req{contentType: "-", body: pw}, 400, "invalid_request", "x-www-form-urlencoded"},
			{"latin-1 charset", o2Req{contentType: o2FormType + "; charset=ISO-8859-1", body: pw}, 400, "invalid_request", "charset"},
			{"not UTF-8", o2Req{body: "grant_type=password&username=alice&password=%FF%FE"}, 400, "invalid_request", "UTF-8"},
			{"too large", o2Req{body: pw + "&pad=" + strings.Repeat("x", 300<<10)}, 400, "invalid_request", "larger than"},
			{"duplicate grant_type", o2Req{body: pw + "&grant_type=password"}, 400, "invalid_request", `'grant_type' is repeated`},
			{"duplicate password", o2Req{body: pw + "&password=other"}, 400, "invalid_request", `'password' is repeated`},
			{"duplicate client_id", o2Req{body: o2Form("grant_type", "client_credentials", "client_id", "reporter", "client_id", "reporter", "client_secret", secret)}, 400, "invalid_request", "repeated"},
			{"parameters in query", o2Req{query: "grant_type=password", body: pw}, 400, "invalid_request", "URL query"},
			{"credentials in query", o2Req{query: "password=alice-password", body: o2Form("grant_type", "password", "username", "alice")}, 400, "invalid_request", "URL query"},
			{"missing grant type", o2Req{body: o2Form("username", "alice", "password", "alice-password")}, 400, "invalid_request", "grant_type"},
			{"missing password", o2Req{body: o2Form("grant_type", "password", "username", "alice")}, 400, "invalid_request", "password"},
			{"unknown grant", o2Req{body: o2Form("grant_type", "implicit")}, 400, "unsupported_grant_type", "implicit"},
			{"authorization_code grant without redirect_uri", o2Req{body: o2Form("grant_type", "authorization_code", "code", "x"), authz: o2Basic("reporter", secret)}, 400, "invalid_request", "redirect_uri"},
			{"unknown scope", o2Req{body: pw + "&scope=openid+admin%3Aall"}, 400, "invalid_scope", "admin:all"},
			{"bad scope characters", o2Req{body: pw + "&scope=open%22id"}, 400, "invalid_scope", ""},
			{"wrong password", o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "wrong")}, 400, "invalid_grant", ""},
			{"unknown user", o2Req{body: o2Form("grant_type", "password", "username", "mallory", "password", "wrong")}, 400, "invalid_grant", ""},
			{"disabled user", o2Req{body: o2Form("grant_type", "password", "username", "bob", "password", "bob-password")}, 400, "invalid_grant", "disabled"},
			{"bad refresh token", o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", "ghr_nope")}, 400, "invalid_grant", ""},
			{"well-formed unknown refresh token", o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", "ghr_"+strings.Repeat("A", 43))}, 400, "invalid_grant", ""},
			{"missing refresh token", o2Req{body: o2Form("grant_type", "refresh_token")}, 400, "invalid_request", ""},
			{"client_credentials without client auth", o2Req{body: o2Form("grant_type", "client_credentials")}, 401, "invalid_client", ""},
			{"client_credentials as default client", o2Req{body: o2Form("grant_type", "client_credentials", "client_id", "gatehouse")}, 401, "invalid_client", ""},
			{"client_credentials with bare client_id", o2Req{body: o2Form("grant_type", "client_credentials", "client_id", "reporter")}, 401, "invalid_client", ""},
			{"password grant with bare client_id", o2Req{body: pw + "&client_id=reporter"}, 401, "invalid_client", ""},
			{"client_secret without client_id", o2Req{body: o2Form("grant_type", "client_credentials", "client_secret", secret)}, 400, "invalid_request", ""},
			{"both auth methods", o2Req{body: o2Form("grant_type", "client_credentials", "client_id", "reporter", "client_secret", secret), authz: o2Basic("reporter", secret)}, 400, "invalid_request", "both"},
			{"basic and a different client_id", o2Req{body: o2Form("grant_type", "client_credentials", "client_id", "other"), authz: o2Basic("reporter", secret)}, 400, "invalid_request", ""},
			{"wrong secret via Basic", o2Req{body: o2Form("grant_type", "client_credentials"), authz: o2Basic("reporter", secret+"x")}, 401, "invalid_client", ""},
			{"wrong secret via post", o2Req{body: o2Form("grant_type", "client_credentials", "client_id", "reporter", "client_secret", "nope")}, 401, "invalid_client", ""},
			{"unknown client via Basic", o2Req{body: pw, authz: o2Basic("ghost", secret)}, 401, "invalid_client", ""},
			{"user as client", o2Req{body: o2Form("grant_type", "client_credentials"), authz: o2Basic("alice", "alice-password")}, 401, "invalid_client", ""},
			{"malformed Basic", o2Req{body: pw, authz: "Basic !!!"}, 401, "invalid_client", ""},
			{"bearer on the token endpoint", o2Req{body: pw, authz: "Bearer x"}, 401, "invalid_client", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				desc := o2WantError(t, ts.o2(t, tc.req), tc.status, tc.code)
				if !strings.Contains(desc, tc.describe) {
					t.Errorf("error_description %q lacks %q", desc, tc.describe)
				}
			})
		}
		// Nothing but POST.
		if r := ts.do(t, "GET", "/oauth2/token", "", "", ""); r.status != http.StatusMethodNotAllowed {
			t.Errorf("GET = %d", r.status)
		}
		// None of this locked alice out.
		o2WantToken(t, ts.o2(t, o2Req{body: pw}))
	})
}

func TestOAuth2Throttle(t *testing.T) {
	small := func(c *server.Config) {
		c.Core.UserThrottle = store.ThrottlePolicy{MaxFailures: 3, Window: time.Minute, Lockout: time.Minute}
	}
	o2ForEachBackend(t, []serverOption{small}, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		wrong := o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "wrong-password")}
		for range 3 {
			o2WantError(t, ts.o2(t, wrong), 400, "invalid_grant")
		}
		for _, q := range []o2Req{wrong, {body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password")}} {
			r := ts.o2(t, q)
			o2WantError(t, r, http.StatusTooManyRequests, "invalid_request")
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
				t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
			}
		}
		// The lockout ends.
		ts.clock.Advance(61 * time.Second)
		o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password")}))
	})
}

// TestOAuth2StockClients: golang.org/x/oauth2, unchanged, talks to the token
// endpoint with either client authentication style.
func TestOAuth2StockClients(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		_, secret := seed(t, ts)
		ctx := context.Background()
		tokenURL := ts.baseURL + "/oauth2/token"

		// Client credentials: auto-detected style, header, params.
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleAutoDetect, oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			cc := clientcredentials.Config{ClientID: "reporter", ClientSecret: secret, TokenURL: tokenURL, Scopes: []string{"openid"}, AuthStyle: style}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("style %d: %v", style, err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
				t.Errorf("style %d: token = %+v", style, tok)
			}
			if p := ts.o2MustValidate(t, tok.AccessToken); p.ClientId != "reporter" || !slices.Equal(p.Scopes, []string{"openid"}) {
				t.Errorf("style %d: principal = %+v", style, p)
			}
		}
		// A wrong secret is a RetrieveError with the RFC code.
		_, err := (&clientcredentials.Config{ClientID: "reporter", ClientSecret: "nope", TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader}).Token(ctx)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
			t.Errorf("wrong secret: %v", err)
		}

		// Password grant, confidential and public client, both styles;
		// then refresh through an expired token, and an authorised call.
		for _, c := range []struct {
			name             string
			clientID, secret string
			style            oauth2.AuthStyle
		}{
			{"confidential in header", "reporter", secret, oauth2.AuthStyleInHeader},
			{"confidential in params", "reporter", secret, oauth2.AuthStyleInParams},
			{"public in header", "gatehouse", "", oauth2.AuthStyleInHeader},
			{"public in params", "gatehouse", "", oauth2.AuthStyleInParams},
		} {
			t.Run(c.name, func(t *testing.T) {
				conf := oauth2.Config{ClientID: c.clientID, ClientSecret: c.secret, Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: c.style}, Scopes: []string{"openid", "profile"}}
				tok, err := conf.PasswordCredentialsToken(ctx, "alice", "alice-password")
				if err != nil {
					t.Fatal(err)
				}
				if tok.AccessToken == "" || !strings.HasPrefix(tok.RefreshToken, "ghr_") || tok.Extra("scope") != "openid profile" {
					t.Fatalf("token = %+v", tok)
				}
				if p := ts.o2MustValidate(t, tok.AccessToken); p.ClientId != c.clientID {
					t.Errorf("principal = %+v", p)
				}
				expired := *tok
				expired.Expiry = time.Now().Add(-time.Hour)
				fresh, err := conf.TokenSource(ctx, &expired).Token()
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || !strings.HasPrefix(fresh.RefreshToken, "ghr_") {
					t.Errorf("refreshed token = %+v", fresh)
				}
				if p := ts.o2MustValidate(t, fresh.AccessToken); p.Username != "alice" || p.ClientId != c.clientID {
					t.Errorf("refreshed principal = %+v", p)
				}
				// A retry within the reuse grace gets the same successor; past
				// it the rotated-away refresh token is spent.
				if again, err := conf.TokenSource(ctx, &expired).Token(); err != nil || again.RefreshToken != fresh.RefreshToken {
					t.Errorf("retried refresh within the grace: %v", err)
				}
				ts.clock.Advance(ts.app.Core().Config().RefreshReuseGrace + time.Second)
				if _, err := conf.TokenSource(ctx, &expired).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
					t.Errorf("replayed refresh: %v", err)
				}
			})
		}

		// An admin's token through config.Client calls the REST API; an
		// expired one is refreshed on the way.
		conf := oauth2.Config{ClientID: "gatehouse", Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams}}
		tok, err := conf.PasswordCredentialsToken(ctx, "admin", ts.adminPW)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range []*oauth2.Token{tok, {AccessToken: "stale", RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}} {
			res, err := conf.Client(ctx, tk).Get(ts.baseURL + "/v1/users:lookup?username=alice")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(body), `"username":"alice"`) {
				t.Errorf("GET /v1/users:lookup = %d %s", res.StatusCode, body)
			}
		}
	})
}

func TestOAuth2Revoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		_, secret := seed(t, ts)
		other, err := ts.admin.CreateServiceClient(ts.adminCtx(t), &gatehousev1.CreateServiceClientRequest{ClientId: "other"})
		if err != nil {
			t.Fatal(err)
		}
		login := func(authz string) o2Token {
			return o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password"), authz: authz}))
		}
		revoke := func(token, authz string, extra ...string) httpResult {
			return ts.o2(t, o2Req{path: "/oauth2/revoke", body: o2Form(append([]string{"token", token}, extra...)...), authz: authz})
		}
		wantRevoked := func(r httpResult) {
			t.Helper()
			if r.status != 200 || len(r.body) != 0 {
				t.Errorf("revoke = %d %q", r.status, r.body)
			}
		}
		dead := func(token string) {
			t.Helper()
			// The writing replica syncs its view at once; allow a poll anyway.
			eventually(t, 3*time.Second, "token refused", func() error {
				if _, err := ts.o2Validate(token); status.Code(err) != codes.Unauthenticated {
					return fmt.Errorf("ValidateToken: %v", err)
				}
				return nil
			})
		}

		// Revoking a refresh token ends the session: the token and every
		// access token of the session.
		first := login("")
		second := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", first.RefreshToken)}))
		ts.o2MustValidate(t, second.AccessToken)
		wantRevoked(revoke(second.RefreshToken, "", "token_type_hint", "refresh_token"))
		o2WantError(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", second.RefreshToken)}), 400, "invalid_grant")
		dead(second.AccessToken)
		dead(first.AccessToken)
		// Revoking again is fine.
		wantRevoked(revoke(second.RefreshToken, ""))

		// An access token alone: it dies, its session lives on.
		third := login("")
		wantRevoked(revoke(third.AccessToken, "", "token_type_hint", "access_token"))
		dead(third.AccessToken)
		fourth := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", third.RefreshToken)}))
		ts.o2MustValidate(t, fourth.AccessToken)

		// An offline token, with a misleading hint.
		off := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password", "scope", "offline_access")}))
		if _, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: off.RefreshToken, AllowOfflineToken: true}); err != nil {
			t.Fatalf("ValidateToken(offline, allow_offline_token): %v", err)
		}
		wantRevoked(revoke(off.RefreshToken, "", "token_type_hint", "access_token"))
		o2WantError(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", off.RefreshToken)}), 400, "invalid_grant")
		dead(off.AccessToken)

		// A client's session: only that client may revoke it when it
		// authenticates; another client is unauthorized_client.
		mine := login(o2Basic("reporter", secret))
		o2WantError(t, revoke(mine.RefreshToken, o2Basic("other", other.ClientSecret)), 400, "unauthorized_client")
		o2WantError(t, revoke(mine.AccessToken, "", "client_id", "other", "client_secret", other.ClientSecret), 400, "unauthorized_client")
		ts.o2MustValidate(t, mine.AccessToken)
		o2WantError(t, revoke(mine.RefreshToken, o2Basic("reporter", "wrong")), 401, "invalid_client")
		o2WantError(t, revoke(mine.RefreshToken, "", "client_id", "reporter"), 401, "invalid_client")
		wantRevoked(revoke(mine.RefreshToken, o2Basic("reporter", secret)))
		dead(mine.AccessToken)

		// Unknown and invalid tokens are not errors (RFC 7009 §2.2).
		for _, tok := range []string{"not-a-token", "ghr_" + strings.Repeat("A", 43), "gho_x", first.AccessToken + "x", strings.Repeat("a", 9000)} {
			wantRevoked(revoke(tok, ""))
		}
		// Malformed requests are.
		o2WantError(t, ts.o2(t, o2Req{path: "/oauth2/revoke", body: ""}), 400, "invalid_request")
		o2WantError(t, ts.o2(t, o2Req{path: "/oauth2/revoke", body: o2Form("token_type_hint", "refresh_token")}), 400, "invalid_request")
		o2WantError(t, ts.o2(t, o2Req{path: "/oauth2/revoke", body: o2Form("token", "a", "token", "b")}), 400, "invalid_request")
		o2WantError(t, ts.o2(t, o2Req{path: "/oauth2/revoke", query: "token=a", body: o2Form("token", "a")}), 400, "invalid_request")
		o2WantError(t, ts.o2(t, o2Req{path: "/oauth2/revoke", contentType: "application/json", body: `{"token":"a"}`}), 400, "invalid_request")
	})
}

func TestOAuth2Introspect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		aliceID, secret := seed(t, ts)
		reporter := o2Basic("reporter", secret)
		introspect := func(token, authz string, extra ...string) httpResult {
			return ts.o2(t, o2Req{path: "/oauth2/introspect", body: o2Form(append([]string{"token", token}, extra...)...), authz: authz})
		}
		active := func(r httpResult) map[string]any {
			t.Helper()
			if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("introspect = %d %v %s", r.status, r.header, r.body)
			}
			m := r.json(t)
			if m["active"] != true {
				t.Fatalf("inactive: %s", r.body)
			}
			for k, v := range m {
				if v == "" || v == float64(0) || v == nil {
					t.Errorf("empty member %s in %s", k, r.body)
				}
			}
			return m
		}
		inactive := func(r httpResult) {
			t.Helper()
			if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"active":false}` || r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("want exactly {\"active\":false}, got %d %s", r.status, r.body)
			}
		}
		login := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password", "scope", "openid email"), authz: reporter}))

		// An access token, with Basic: every RFC 7662 member.
		m := active(introspect(login.AccessToken, reporter))
		for _, k := range []string{"scope", "client_id", "username", "token_type", "token_use", "exp", "iat", "nbf", "sub", "aud", "iss", "jti", "roles", "sid"} {
			if _, ok := m[k]; !ok {
				t.Errorf("member %s missing: %v", k, m)
			}
		}
		if m["scope"] != "openid email" || m["client_id"] != "reporter" || m["username"] != "alice" || m["token_type"] != "Bearer" || m["token_use"] != "access_token" ||
			m["sub"] != aliceID || m["aud"] != "gatehouse" || m["iss"] != "http://localhost:8080" ||
			m["exp"].(float64)-m["iat"].(float64) != 900 || m["nbf"] != m["iat"] || fmt.Sprint(m["roles"]) != "[viewer]" {
			t.Errorf("access token introspection = %v", m)
		}
		sid := m["sid"]

		// With client_secret_post, and hinted.
		active(ts.o2(t, o2Req{path: "/oauth2/introspect", body: o2Form("token", login.AccessToken, "token_type_hint", "access_token", "client_id", "reporter", "client_secret", secret)}))

		// A refresh token.
		m = active(introspect(login.RefreshToken, reporter, "token_type_hint", "refresh_token"))
		if m["token_use"] != "refresh_token" || m["token_type"] != nil || m["sub"] != aliceID || m["username"] != "alice" || m["client_id"] != "reporter" || m["sid"] != sid ||
			m["exp"] == nil || m["iat"] == nil || m["iss"] != "http://localhost:8080" || m["scope"] != "openid email" {
			t.Errorf("refresh token introspection = %v", m)
		}

		// An offline token: no exp.
		off := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password", "scope", "offline_access")}))
		m = active(introspect(off.RefreshToken, reporter))
		if m["token_use"] != "offline_token" || m["sub"] != aliceID || m["client_id"] != "gatehouse" || m["exp"] != nil || m["scope"] != "offline_access" {
			t.Errorf("offline token introspection = %v", m)
		}

		// A service client's bearer token authenticates the caller too.
		cc := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "client_credentials"), authz: reporter}))
		m = active(introspect(login.AccessToken, "Bearer "+cc.AccessToken))
		if m["username"] != "alice" {
			t.Errorf("via bearer = %v", m)
		}
		// A client's own token: a service principal has no username.
		m = active(introspect(cc.AccessToken, reporter))
		if m["client_id"] != "reporter" || m["username"] != nil || m["sid"] != nil {
			t.Errorf("client token introspection = %v", m)
		}

		// Inactive: revoked, rotated, garbage, unknown.
		next := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", login.RefreshToken), authz: reporter}))
		inactive(introspect(login.RefreshToken, reporter))
		active(introspect(next.RefreshToken, reporter))
		if r := ts.o2(t, o2Req{path: "/oauth2/revoke", body: o2Form("token", next.RefreshToken), authz: reporter}); r.status != 200 {
			t.Fatalf("revoke = %d %s", r.status, r.body)
		}
		inactive(introspect(next.RefreshToken, reporter))
		inactive(introspect(next.AccessToken, reporter))
		inactive(introspect(login.AccessToken, reporter))
		for _, tok := range []string{"garbage", "ghr_" + strings.Repeat("A", 43), "gho_" + strings.Repeat("B", 43), cc.AccessToken + "x", strings.Repeat("a", 9000)} {
			inactive(introspect(tok, reporter))
		}

		// Caller authentication.
		fresh := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password")}))
		challenged := func(r httpResult, bearerError string) {
			t.Helper()
			o2WantError(t, r, 401, "invalid_client")
			want := `Bearer realm="gatehouse"`
			if bearerError != "" {
				want += `, error="` + bearerError + `"`
			}
			if !slices.Contains(r.header.Values("WWW-Authenticate"), want) {
				t.Errorf("challenges %q lack %q", r.header.Values("WWW-Authenticate"), want)
			}
		}
		challenged(introspect(fresh.AccessToken, ""), "")
		challenged(introspect(fresh.AccessToken, "", "client_id", "reporter"), "")
		challenged(introspect(fresh.AccessToken, o2Basic("reporter", "wrong")), "")
		challenged(introspect(fresh.AccessToken, "Bearer garbage"), "invalid_token")
		// A user's bearer is not a client: 401 (RFC 7662 §2.3), not 403.
		challenged(introspect(fresh.AccessToken, "Bearer "+fresh.AccessToken), "insufficient_scope")
		// An offline token is no bearer credential at all.
		challenged(introspect(fresh.AccessToken, "Bearer "+off.RefreshToken), "invalid_token")
		o2WantError(t, introspect(fresh.AccessToken, reporter, "client_id", "reporter", "client_secret", secret), 400, "invalid_request")
		o2WantError(t, ts.o2(t, o2Req{path: "/oauth2/introspect", authz: reporter}), 400, "invalid_request")
		o2WantError(t, ts.o2(t, o2Req{path: "/oauth2/introspect", authz: reporter, body: o2Form("token", "a", "token", "b")}), 400, "invalid_request")
		o2WantError(t, ts.o2(t, o2Req{path: "/oauth2/introspect", authz: reporter, query: "token=a"}), 400, "invalid_request")

		// A disabled client's bearer no longer works.
		list, err := ts.admin.ListServiceClients(ts.adminCtx(t), &gatehousev1.ListServiceClientsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list.Clients {
			if c.ClientId == "reporter" {
				if _, err := ts.admin.DisableServiceClient(ts.adminCtx(t), &gatehousev1.DisableServiceClientRequest{Id: c.Id}); err != nil {
					t.Fatal(err)
				}
			}
		}
		challenged(introspect(fresh.AccessToken, "Bearer "+cc.AccessToken), "invalid_token")
		o2WantError(t, introspect(fresh.AccessToken, reporter), 400, "unauthorized_client")
	})
}

// renameClient changes a client id behind the API's back, as a database made
// under older rules may hold it, and reloads the view.
func (ts *testServer) renameClient(t *testing.T, from, to string) {
	t.Helper()
	backend, dsn := "postgres", ts.dsn
	if dsn == "" {
		backend, dsn = "sqlite", filepath.Join(ts.dataDir, "gatehouse.db")
	} else if !store.IsPostgres(dsn) {
		backend = "sqlite"
	}
	db := storetest.OpenRaw(t, backend, dsn)
	q := "UPDATE accounts SET client_id = $1 WHERE client_id = $2"
	if backend == "sqlite" {
		q = "UPDATE accounts SET client_id = ?1 WHERE client_id = ?2"
	}
	if res, err := db.Exec(q, to, from); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("renamed %d clients", n)
	}
	if err := ts.app.View().Load(context.Background()); err != nil {
		t.Fatal(err)
	}
}
