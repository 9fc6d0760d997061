package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// The refresh-token and introspection scenarios.
//
// A refresh token is single-use: every refresh_token grant consumes the
// token it is given and returns its successor, and the server treats a
// second use of a consumed token as theft and revokes the whole session.
// So each worker keeps its own chain (its own login session) and never
// sends a token twice: after any failed call the worker cannot know whether
// the server consumed its token (a timeout may hide a successful rotation),
// so it drops the chain and logs in again on its next turn.

const (
	grantPassword     = "password"
	grantRefreshToken = "refresh_token"

	maxTokenResponse = 64 << 10 // bytes of a /oauth2/* answer read
)

// chains holds the refresh-token chain of each refresh worker: chains[w] is
// the current (unused) refresh token of worker w, "" when the worker must
// log in again. Worker w is the only one touching chains[w] while a
// scenario runs; between scenarios the bench owns the slice, so that the
// chains carry over from refresh-grpc to refresh-rest.
type chains []string

// loginFunc starts a new chain with a password grant and returns its
// refresh token.
type loginFunc func(ctx context.Context, w int) (string, error)

// grpcLogin logs in over gRPC (IssueToken, grant_type=password, no client
// authentication: the session belongs to the default public client).
func grpcLogin(pool *grpcPool, username, password string) loginFunc {
	req := &gatehousev1.IssueTokenRequest{GrantType: grantPassword, Username: username, Password: password}
	return func(ctx context.Context, w int) (string, error) {
		resp, err := pool.client(w).IssueToken(ctx, req)
		if err != nil {
			return "", err // a gRPC status, bucketed by code
		}
		if resp.GetRefreshToken() == "" {
			return "", &kindError{kind: "no refresh_token", err: errors.New("password grant returned no refresh_token")}
		}
		return resp.GetRefreshToken(), nil
	}
}

// fillChains logs in every worker whose chain is empty, par logins at a
// time; it fails on the first failed login.
func fillChains(ctx context.Context, ch chains, login loginFunc, par int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var todo []int
	for w, tok := range ch {
		if tok == "" {
			todo = append(todo, w)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(par, len(todo)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(todo) {
					return
				}
				w := todo[i]
				tok, err := login(ctx, w)
				if err != nil {
					cancel(fmt.Errorf("password grant: %w", err))
					return
				}
				ch[w] = tok // distinct indexes: no two goroutines share one
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// revokeChains revokes the given refresh tokens (and so their sessions)
// with AuthService.RevokeToken, par at a time; it returns the first error.
func revokeChains(ctx context.Context, pool *grpcPool, tokens []string, par int) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for w := range min(par, len(tokens)) {
		wg.Go(func() {
			cl := pool.client(w)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(tokens) {
					return
				}
				req := &gatehousev1.RevokeTokenRequest{Token: tokens[i], TokenTypeHint: grantRefreshToken}
				if _, err := cl.RevokeToken(ctx, req); err != nil {
					once.Do(func() { first = fmt.Errorf("RevokeToken: %w", err) })
				}
			}
		})
	}
	wg.Wait()
	return first
}

// refreshFunc runs one refresh_token grant and returns the successor token.
type refreshFunc func(ctx context.Context, token string) (string, error)

// refreshWorkers builds the workers of a refresh scenario around one
// refresh call per turn. A worker whose chain broke logs in again on its
// next turn (not measured); a failed re-login counts as an error of kind
// "re-login <kind>".
func refreshWorkers(ch chains, login loginFunc, refresh func(w int) refreshFunc) workerFactory {
	return func(w int) callFunc {
		do := refresh(w)
		return func(ctx context.Context) error {
			if ch[w] == "" {
				tok, err := login(ctx, w)
				if err != nil {
					return &kindError{kind: "re-login " + errorKind(err), err: err}
				}
				ch[w] = tok
				return errNotMeasured
			}
			next, err := do(ctx, ch[w])
			if err != nil {
				// The token may have been consumed: never send it again.
				ch[w] = ""
				return err
			}
			ch[w] = next
			return nil
		}
	}
}

// refreshGRPC: AuthService.IssueToken, grant_type=refresh_token.
func refreshGRPC(pool *grpcPool, ch chains, login loginFunc) workerFactory {
	return refreshWorkers(ch, login, func(w int) refreshFunc {
		cl := pool.client(w)
		return func(ctx context.Context, tok string) (string, error) {
			resp, err := cl.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: grantRefreshToken, RefreshToken: tok})
			if err != nil {
				return "", err // a gRPC status, bucketed by code
			}
			return checkRefreshAnswer(resp.GetAccessToken(), resp.GetRefreshToken())
		}
	})
}

// refreshREST: POST /oauth2/token, form grant_type=refresh_token, no client
// authentication (the sessions belong to the default public client).
func refreshREST(rc restClient, ch chains, login loginFunc) workerFactory {
	u := rc.url("/oauth2/token")
	return refreshWorkers(ch, login, func(int) refreshFunc {
		return func(ctx context.Context, tok string) (string, error) {
			body := "grant_type=" + grantRefreshToken + "&refresh_token=" + url.QueryEscape(tok)
			raw, err := rc.postForm(ctx, u, body, "", maxTokenResponse)
			if err != nil {
				return "", err
			}
			var out struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			if err := json.Unmarshal(raw, &out); err != nil {
				return "", &kindError{kind: "bad response", err: fmt.Errorf("decode token response: %w", err)}
			}
			return checkRefreshAnswer(out.AccessToken, out.RefreshToken)
		}
	})
}

func checkRefreshAnswer(access, refresh string) (string, error) {
	if access == "" {
		return "", &kindError{kind: "empty token", err: errors.New("refresh_token grant returned no access_token")}
	}
	if refresh == "" {
		return "", &kindError{kind: "no refresh_token", err: errors.New("refresh_token grant returned no successor refresh_token")}
	}
	return refresh, nil
}

// errInactive: the server called one of the freshly issued tokens inactive.
var errInactive = &kindError{kind: "inactive", err: errors.New("introspection answered active=false for a valid token")}

// introspectGRPC: AuthService.IntrospectToken with client credentials in
// the request, rotating through the tokens. Requests are shared by all
// workers (see validateGRPC).
func introspectGRPC(pool *grpcPool, tokens []string, clientID, clientSecret string) workerFactory {
	reqs := make([]*gatehousev1.IntrospectTokenRequest, len(tokens))
	for i, t := range tokens {
		reqs[i] = &gatehousev1.IntrospectTokenRequest{Token: t, ClientId: clientID, ClientSecret: clientSecret}
	}
	next := newRotation(len(reqs))
	return func(w int) callFunc {
		cl := pool.client(w)
		return func(ctx context.Context) error {
			resp, err := cl.IntrospectToken(ctx, reqs[next()])
			if err != nil {
				return err // a gRPC status, bucketed by code
			}
			if !resp.GetActive() {
				return errInactive
			}
			return nil
		}
	}
}

// introspectREST: POST /oauth2/introspect, form token=..., HTTP Basic
// client authentication, rotating through the tokens.
func introspectREST(rc restClient, tokens []string, clientID, clientSecret string) workerFactory {
	bodies := make([]string, len(tokens))
	for i, t := range tokens {
		bodies[i] = "token=" + url.QueryEscape(t)
	}
	u := rc.url("/oauth2/introspect")
	authz := basicAuth(clientID, clientSecret)
	next := newRotation(len(bodies))
	return func(int) callFunc {
		return func(ctx context.Context) error {
			raw, err := rc.postForm(ctx, u, bodies[next()], authz, maxTokenResponse)
			if err != nil {
				return err
			}
			var out struct {
				Active *bool `json:"active"`
			}
			if err := json.Unmarshal(raw, &out); err != nil || out.Active == nil {
				if err == nil {
					err = errors.New(`no "active" member`)
				}
				return &kindError{kind: "bad response", err: fmt.Errorf("decode introspection response: %w", err)}
			}
			if !*out.Active {
				return errInactive
			}
			return nil
		}
	}
}

// oauth2Token: POST /oauth2/token, form grant_type=client_credentials, HTTP
// Basic client authentication: the RFC 6749 token endpoint as stock OAuth 2
// clients (golang.org/x/oauth2/clientcredentials, requests-oauthlib) call it.
func oauth2Token(rc restClient, clientID, clientSecret string) workerFactory {
	u := rc.url("/oauth2/token")
	authz := basicAuth(clientID, clientSecret)
	body := "grant_type=" + grantClientCredentials
	return func(int) callFunc {
		return func(ctx context.Context) error {
			raw, err := rc.postForm(ctx, u, body, authz, maxTokenResponse)
			if err != nil {
				return err
			}
			var out struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal(raw, &out); err != nil || out.AccessToken == "" {
				if err == nil {
					err = errors.New("no access_token")
				}
				return &kindError{kind: "bad response", err: fmt.Errorf("decode token response: %w", err)}
			}
			return nil
		}
	}
}
