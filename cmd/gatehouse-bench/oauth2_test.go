package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	userEnv = env(map[string]string{envUsername: testUsername, envPassword: testPassword})
	bothEnv = env(map[string]string{
		envClientID: testClientID, envClientSecret: testClientSecret,
		envUsername: testUsername, envPassword: testPassword,
	})
)

func TestParseConfigCredentials(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		wantErr string // substring; empty means success
		check   func(t *testing.T, c config)
	}{
		{name: "refresh needs no client", args: []string{"-scenarios", "refresh-grpc,refresh-rest"}, env: userEnv, check: func(t *testing.T, c config) {
			if c.username != testUsername || c.password != testPassword || c.clientSecret != "" {
				t.Errorf("got user %q, client secret %q", c.username, c.clientSecret)
			}
			if got := shownFlag(c, "client-secret"); !strings.HasPrefix(got, "(unset") {
				t.Errorf("client-secret shown as %q", got)
			}
			if got := shownFlag(c, "password"); got != "(redacted, from $"+envPassword+")" {
				t.Errorf("password shown as %q", got)
			}
			if got := shownFlag(c, "username"); !strings.Contains(got, testUsername) {
				t.Errorf("username shown as %q", got)
			}
		}},
		{name: "flags win over env", args: []string{"-scenarios", "refresh-grpc", "-username", "u2", "-password", "flagpassword"}, env: userEnv, check: func(t *testing.T, c config) {
			if c.username != "u2" || c.password != "flagpassword" {
				t.Errorf("got %q/%q", c.username, c.password)
			}
		}},
		{name: "all four, mixed", args: []string{"-scenarios", "default,refresh-rest,introspect-rest"}, env: bothEnv, check: func(t *testing.T, c config) {
			if want := append(slices.Clone(defaultScenarios), scRefreshREST, scIntrospectREST); !slices.Equal(c.scenarios, want) {
				t.Errorf("scenarios = %v, want %v", c.scenarios, want)
			}
		}},
		{name: "all stays the default list", args: []string{"-scenarios", "all"}, env: credsEnv, check: func(t *testing.T, c config) {
			if !slices.Equal(c.scenarios, defaultScenarios) {
				t.Errorf("scenarios = %v", c.scenarios)
			}
		}},
		{name: "default needs no user", env: credsEnv},
		{name: "refresh without user", args: []string{"-scenarios", "refresh-grpc"}, env: credsEnv,
			wantErr: "missing user credentials (needed by refresh-grpc): set " + envUsername + " and " + envPassword},
		{name: "refresh without password", args: []string{"-scenarios", "refresh-rest", "-username", "u"}, env: credsEnv,
			wantErr: "missing user credentials (needed by refresh-rest)"},
		{name: "refresh without anything", args: []string{"-scenarios", "refresh-rest,refresh-grpc"}, env: env(nil),
			wantErr: "missing user credentials (needed by refresh-rest, refresh-grpc)"},
		{name: "introspect needs the client", args: []string{"-scenarios", "introspect-grpc,refresh-grpc"}, env: userEnv,
			wantErr: "missing client credentials (needed by introspect-grpc)"},
		{name: "default needs the client", env: userEnv, wantErr: "missing client credentials (needed by validate-grpc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, err := parseConfig(tt.args, tt.env, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range cfg.shown {
				for _, secret := range []string{cfg.clientSecret, cfg.password} {
					if secret != "" && strings.Contains(f.Value, secret) {
						t.Errorf("flag %s shows a secret", f.Name)
					}
				}
			}
			warned := strings.Contains(stderr.String(), "prefer $"+envPassword)
			if want := slices.Contains(tt.args, "-password"); warned != want {
				t.Errorf("password warning = %v, want %v; stderr:\n%s", warned, want, stderr.String())
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

func shownFlag(c config, name string) string {
	for _, f := range c.shown {
		if f.Name == name {
			return f.Value
		}
	}
	return "<missing>"
}

func TestRunUsageNewScenarios(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        func(string) string
		want       int
		wantStderr []string
	}{
		{"help lists them", []string{"-h"}, credsEnv, exitOK,
			[]string{"refresh-grpc", "refresh-rest", "introspect-grpc", "introspect-rest", "/oauth2/token", "/oauth2/introspect", "-username", "-password", envUsername, envPassword}},
		{"refresh without user", []string{"-scenarios", "refresh-grpc"}, credsEnv, exitUsage,
			[]string{"missing user credentials (needed by refresh-grpc)", envUsername}},
		{"refresh-rest without user", []string{"-scenarios", "validate-grpc,refresh-rest"}, credsEnv, exitUsage,
			[]string{"missing user credentials (needed by refresh-rest)"}},
		{"introspect without client", []string{"-scenarios", "introspect-rest"}, userEnv, exitUsage,
			[]string{"missing client credentials (needed by introspect-rest)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(t.Context(), tt.args, tt.env, &out, &errb); got != tt.want {
				t.Fatalf("exit = %d, want %d; stderr:\n%s", got, tt.want, errb.String())
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
		})
	}
}

func TestBasicAuth(t *testing.T) {
	tests := []struct {
		id, secret string
		wantPair   string // before base64
	}{
		{"bench", "ghcs_abc-DEF_123", "bench:ghcs_abc-DEF_123"},
		{"a:b", "p w+&%/=", "a%3Ab:p+w%2B%26%25%2F%3D"},
		{"ünï", "x", "%C3%BCn%C3%AF:x"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got := basicAuth(tt.id, tt.secret)
			if want := "Basic " + base64.StdEncoding.EncodeToString([]byte(tt.wantPair)); got != want {
				t.Fatalf("basicAuth = %q, want %q", got, want)
			}
			// What a server does with it (RFC 6749 §2.3.1).
			r := &http.Request{Header: http.Header{"Authorization": {got}}}
			user, pass, ok := r.BasicAuth()
			if !ok {
				t.Fatal("not parsed as Basic")
			}
			if id, _ := url.QueryUnescape(user); id != tt.id {
				t.Errorf("id round trip = %q", id)
			}
			if secret, _ := url.QueryUnescape(pass); secret != tt.secret {
				t.Errorf("secret round trip = %q", secret)
			}
		})
	}
}

// TestRefreshWorkers drives one worker's state machine with scripted
// answers: it must never send a token twice, log in again (unmeasured)
// after any failure, and count a failed re-login as an error.
func TestRefreshWorkers(t *testing.T) {
	type step struct {
		loginErr   error // for a turn that logs in
		refreshErr error // for a turn that refreshes
		want       string
	}
	lost := status.Error(codes.Unavailable, "lost")
	tests := []struct {
		name   string
		steps  []step
		logins int
	}{
		{"plain rotation", []step{{want: "ok"}, {want: "ok"}, {want: "ok"}}, 0},
		{"failure then re-login", []step{
			{want: "ok"},
			{refreshErr: lost, want: "grpc Unavailable"},
			{want: "not measured"},
			{want: "ok"},
		}, 1},
		{"failed re-login is an error and retried", []step{
			{refreshErr: lost, want: "grpc Unavailable"},
			{loginErr: status.Error(codes.Unauthenticated, "no"), want: "re-login grpc Unauthenticated"},
			{loginErr: &kindError{kind: "no refresh_token", err: errors.New("x")}, want: "re-login no refresh_token"},
			{want: "not measured"},
			{want: "ok"},
		}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent []string
			n, logins := 0, 0
			newTok := func(prefix string) string { n++; return prefix + strconv.Itoa(n) }
			i := 0 // current step
			login := func(context.Context, int) (string, error) {
				logins++
				if err := tt.steps[i].loginErr; err != nil {
					return "", err
				}
				return newTok("login-"), nil
			}
			refresh := func(int) refreshFunc {
				return func(_ context.Context, tok string) (string, error) {
					if slices.Contains(sent, tok) {
						t.Fatalf("step %d: token %s sent twice", i, tok)
					}
					sent = append(sent, tok)
					if err := tt.steps[i].refreshErr; err != nil {
						return "", err
					}
					return newTok("next-"), nil
				}
			}
			ch := chains{"", "setup-token"}
			call := refreshWorkers(ch, login, refresh)(1)
			for i = range tt.steps {
				err := call(t.Context())
				got := "ok"
				switch {
				case errors.Is(err, errNotMeasured):
					got = "not measured"
				case err != nil:
					got = errorKind(err)
				}
				if got != tt.steps[i].want {
					t.Fatalf("step %d: got %q (%v), want %q", i, got, err, tt.steps[i].want)
				}
			}
			if logins != tt.logins {
				t.Errorf("logins = %d, want %d", logins, tt.logins)
			}
			if ch[0] != "" {
				t.Error("worker 1 touched worker 0's chain")
			}
		})
	}
}

// TestRunRefreshScenarios runs the refresh scenarios end to end against the
// fake, which rotates refresh tokens and counts any reuse.
func TestRunRefreshScenarios(t *testing.T) {
	const c = 3
	tests := []struct {
		name        string
		scenarios   string
		lose        int64 // refreshes the fake consumes but fails
		loginBudget int64 // 0: unlimited
		wantKinds   map[string]int64
		wantLogins  int64
		wantRevoked int64 // sessions revoked at the end
		reloginErrs bool  // some "re-login ..." errors expected
	}{
		{name: "grpc", scenarios: "refresh-grpc", wantLogins: c, wantRevoked: c},
		{name: "rest", scenarios: "refresh-rest", wantLogins: c, wantRevoked: c},
		{name: "chains carry over", scenarios: "refresh-grpc,refresh-rest", wantLogins: c, wantRevoked: c},
		{name: "grpc lost answers", scenarios: "refresh-grpc", lose: 4, wantKinds: map[string]int64{"grpc Unavailable": 4}, wantLogins: c + 4, wantRevoked: c},
		{name: "rest lost answers", scenarios: "refresh-rest", lose: 4, wantKinds: map[string]int64{"http 503": 4}, wantLogins: c + 4, wantRevoked: c},
		{name: "re-login refused", scenarios: "refresh-grpc", lose: 1, loginBudget: c, wantKinds: map[string]int64{"grpc Unavailable": 1},
			wantLogins: c, wantRevoked: c - 1, reloginErrs: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGatehouse(t)
			f.loseRefreshes.Store(tt.lose)
			f.loginBudget.Store(tt.loginBudget)
			var out, errb bytes.Buffer
			args := []string{"-grpc", f.grpcAddr, "-http", f.httpURL, "-c", strconv.Itoa(c), "-d", "150ms", "-conns", "2", "-scenarios", tt.scenarios, "-json"}
			if code := run(t.Context(), args, userEnv, &out, &errb); code != exitOK {
				t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
			}
			assertNoLeaks(t, f, out.String(), errb.String())
			if strings.Contains(out.String()+errb.String(), testPassword) {
				t.Fatal("output contains the password")
			}
			if n := f.reuses.Load(); n != 0 {
				t.Fatalf("%d refresh tokens were sent again after being consumed", n)
			}
			if n := f.logins.Load(); n != tt.wantLogins {
				t.Errorf("logins = %d, want %d", n, tt.wantLogins)
			}
			if n := f.revoked.Load(); n != tt.wantRevoked {
				t.Errorf("revoked %d sessions at the end, want %d", n, tt.wantRevoked)
			}
			var calls int64
			recs := jsonLines(t, out.String())
			if got, want := len(recs["result"]), len(strings.Split(tt.scenarios, ",")); got != want {
				t.Fatalf("%d results, want %d", got, want)
			}
			for _, r := range recs["result"] {
				if r["ok"].(float64) < 1 {
					t.Errorf("%s: no successful calls: %v", r["scenario"], r)
				}
				calls += int64(r["requests"].(float64))
				kinds := map[string]int64{}
				if m, ok := r["errors_by_kind"].(map[string]any); ok {
					for k, v := range m {
						kinds[k] = int64(v.(float64))
					}
				}
				var relogins int64
				for k, v := range kinds {
					if strings.HasPrefix(k, "re-login ") {
						relogins += v
						delete(kinds, k)
					}
				}
				if tt.reloginErrs != (relogins > 0) {
					t.Errorf("%s: %d re-login errors, want some: %v", r["scenario"], relogins, tt.reloginErrs)
				}
				if len(kinds) != len(tt.wantKinds) {
					t.Errorf("%s: errors_by_kind = %v, want %v", r["scenario"], r["errors_by_kind"], tt.wantKinds)
				}
				for k, v := range tt.wantKinds {
					if kinds[k] != v {
						t.Errorf("%s: %s ×%d, want ×%d (all: %v)", r["scenario"], k, kinds[k], v, r["errors_by_kind"])
					}
				}
			}
			// Every measured call but the failed re-logins was exactly one
			// refresh on the server, and nothing else refreshed.
			var relogins int64
			for _, r := range recs["result"] {
				if m, ok := r["errors_by_kind"].(map[string]any); ok {
					for k, v := range m {
						if strings.HasPrefix(k, "re-login ") {
							relogins += int64(v.(float64))
						}
					}
				}
			}
			if got := f.refreshes.Load(); got != calls-relogins {
				t.Errorf("server saw %d refreshes, the tool counted %d calls (%d failed re-logins)", got, calls, relogins)
			}
		})
	}
}

func TestRunRefreshSetupFailure(t *testing.T) {
	f := newFakeGatehouse(t)
	wrong := env(map[string]string{envUsername: testUsername, envPassword: testPassword + "-wrong"})
	var out, errb bytes.Buffer
	args := []string{"-grpc", f.grpcAddr, "-http", f.httpURL, "-c", "2", "-d", "100ms", "-scenarios", "refresh-rest"}
	if code := run(t.Context(), args, wrong, &out, &errb); code != exitFailure {
		t.Fatalf("exit = %d, want %d\nstderr:\n%s", code, exitFailure, errb.String())
	}
	if !strings.Contains(errb.String(), "Unauthenticated") || !strings.Contains(errb.String(), "[secret]") {
		t.Errorf("stderr lacks the cause or the redaction:\n%s", errb.String())
	}
	if strings.Contains(out.String()+errb.String(), testPassword+"-wrong") {
		t.Fatal("output contains the (wrong) password")
	}
}

// TestIntrospectScenarios runs the introspect workers directly on tokens of
// this fake (active) or of another one (inactive), with good or bad client
// credentials.
func TestIntrospectScenarios(t *testing.T) {
	const special = "s3cr3t:with+special &chars%=/-0123456789"
	tests := []struct {
		name     string
		scenario string
		opts     []fakeOption
		secret   string // the tool's; the fake's unless opts say otherwise
		foreign  bool   // tokens signed by another key: inactive
		wantKind string // "" = every call succeeds
	}{
		{name: "grpc", scenario: scIntrospectGRPC, secret: testClientSecret},
		{name: "rest", scenario: scIntrospectREST, secret: testClientSecret},
		{name: "rest form-encodes the Basic credentials", scenario: scIntrospectREST, opts: []fakeOption{withClientSecret(special)}, secret: special},
		{name: "grpc inactive", scenario: scIntrospectGRPC, secret: testClientSecret, foreign: true, wantKind: "inactive"},
		{name: "rest inactive", scenario: scIntrospectREST, secret: testClientSecret, foreign: true, wantKind: "inactive"},
		{name: "grpc wrong secret", scenario: scIntrospectGRPC, secret: testClientSecret + "-wrong", wantKind: "grpc Unauthenticated"},
		{name: "rest wrong secret", scenario: scIntrospectREST, secret: testClientSecret + "-wrong", wantKind: "http 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeGatehouse(t, tt.opts...)
			issuer, issuerSecret := f, f.clientSecret
			if tt.foreign {
				issuer, issuerSecret = newFakeGatehouse(t), testClientSecret
			}
			ts, err := issueTokens(t.Context(), mustPool(t, issuer.grpcAddr), testClientID, issuerSecret, 4, 2)
			if err != nil {
				t.Fatal(err)
			}
			base, _ := url.Parse(f.httpURL)
			rc := restClient{hc: newHTTPClient(2, false), base: base}
			t.Cleanup(rc.hc.CloseIdleConnections)
			factory := introspectGRPC(mustPool(t, f.grpcAddr), ts.tokens, testClientID, tt.secret)
			if tt.scenario == scIntrospectREST {
				factory = introspectREST(rc, ts.tokens, testClientID, tt.secret)
			}
			red := redactor{secrets: []string{tt.secret}}
			r := runScenario(t.Context(), tt.scenario, 2, 100*time.Millisecond, factory, red)
			if tt.wantKind == "" {
				if r.ok < 1 || r.errors != 0 {
					t.Fatalf("ok %d, errors %v, first: %s", r.ok, r.byKind, r.firstError)
				}
				if got := f.introspected.Load(); got != r.ok {
					t.Errorf("server introspected %d tokens, the tool counted %d", got, r.ok)
				}
				return
			}
			if r.ok != 0 || r.errors < 1 || r.byKind[tt.wantKind] != r.errors {
				t.Fatalf("ok %d, errors %v, want only %q; first: %s", r.ok, r.byKind, tt.wantKind, r.firstError)
			}
			assertNoLeaks(t, issuer, r.firstError)
			if strings.Contains(r.firstError, tt.secret) {
				t.Errorf("first error shows the secret: %s", r.firstError)
			}
		})
	}
}

// TestRunNewScenariosTogether: all four new scenarios in one run, with the
// token set shared by the introspect scenarios.
func TestRunNewScenariosTogether(t *testing.T) {
	f := newFakeGatehouse(t)
	var out, errb bytes.Buffer
	args := []string{"-grpc", f.grpcAddr, "-http", f.httpURL, "-c", "2", "-d", "100ms", "-tokens", "3",
		"-scenarios", "introspect-grpc,refresh-grpc,introspect-rest,refresh-rest,oauth2-token", "-json"}
	if code := run(t.Context(), args, bothEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	t.Logf("stdout:\n%s", out.String())
	assertNoLeaks(t, f, out.String(), errb.String())
	var names []string
	for _, r := range jsonLines(t, out.String())["result"] {
		names = append(names, r["scenario"].(string))
		if r["ok"].(float64) < 1 || r["errors"].(float64) != 0 {
			t.Errorf("%s: %v", r["scenario"], r)
		}
	}
	if want := []string{scIntrospectGRPC, scRefreshGRPC, scIntrospectREST, scRefreshREST, scOAuth2Token}; !slices.Equal(names, want) {
		t.Errorf("scenarios run = %v, want %v", names, want)
	}
	if f.reuses.Load() != 0 || f.logins.Load() != 2 || f.revoked.Load() != 2 {
		t.Errorf("reuses %d, logins %d, revoked %d (want 0, 2, 2)", f.reuses.Load(), f.logins.Load(), f.revoked.Load())
	}
	if strings.Contains(out.String(), "/jwx-verify") {
		t.Error("ratios printed without jwx-verify")
	}
}

// TestRefreshRESTRequest pins the wire format of refresh-rest: a form body
// with the token form-encoded, no client authentication.
func TestRefreshRESTRequest(t *testing.T) {
	var got struct {
		ctype, authz, body string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.ctype, got.authz, got.body = r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"a.b.c","token_type":"Bearer","expires_in":900,"refresh_token":"next+/="}`)
	}))
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	rc := restClient{hc: newHTTPClient(1, false), base: base}
	t.Cleanup(rc.hc.CloseIdleConnections)
	ch := chains{"tok+/=&x"}
	call := refreshREST(rc, ch, nil)(0)
	if err := call(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got.ctype != "application/x-www-form-urlencoded" || got.authz != "" {
		t.Errorf("content type %q, authorization %q", got.ctype, got.authz)
	}
	if want := "grant_type=refresh_token&refresh_token=tok%2B%2F%3D%26x"; got.body != want {
		t.Errorf("body = %q, want %q", got.body, want)
	}
	if ch[0] != "next+/=" {
		t.Errorf("chain = %q", ch[0])
	}
}

// TestOAuth2TokenWrongSecret: a refused client_credentials call at
// /oauth2/token is an error, not a success.
func TestOAuth2TokenWrongSecret(t *testing.T) {
	f := newFakeGatehouse(t)
	base, _ := url.Parse(f.httpURL)
	rc := restClient{hc: newHTTPClient(1, false), base: base}
	t.Cleanup(rc.hc.CloseIdleConnections)
	if err := oauth2Token(rc, testClientID, "wrong-secret")(0)(t.Context()); err == nil {
		t.Fatal("client_credentials with a wrong secret counted as a success")
	}
	if err := oauth2Token(rc, testClientID, f.clientSecret)(0)(t.Context()); err != nil {
		t.Fatalf("client_credentials with the right secret: %v", err)
	}
}
