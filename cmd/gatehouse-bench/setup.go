package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

const (
	grantClientCredentials = "client_credentials"
	maxErrBody             = 512     // bytes of a non-200 body kept for the error message
	maxDrain               = 4 << 20 // bytes of a body read before giving up on the connection
	maxJWKS                = 1 << 20
)

// httpStatusError is a non-200 answer.
type httpStatusError struct {
	code int
	body string
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.code, http.StatusText(e.code), e.body)
}

// restClient talks to gatehouse's HTTP port.
type restClient struct {
	hc   *http.Client
	base *url.URL // path without a trailing slash
}

func (r restClient) url(path string) string { return r.base.String() + path }

// post sends a JSON body and reads and discards the answer; any non-200 is
// an *httpStatusError.
func (r restClient) post(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.hc.Do(req)
	if err != nil {
		return err // *url.Error already names the method and URL
	}
	_, err = readResponse(resp, 0)
	return err
}

// postForm sends an application/x-www-form-urlencoded body, with an
// Authorization header when authz is not empty, and returns at most keep
// bytes of a 200 answer (keep <= 0: discards it); any non-200 is an
// *httpStatusError.
func (r restClient) postForm(ctx context.Context, url, body, authz string, keep int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, err // *url.Error already names the method and URL
	}
	return readResponse(resp, keep)
}

// basicAuth is the Authorization header of HTTP Basic client
// authentication as RFC 6749 §2.3.1 has it: client id and secret are each
// application/x-www-form-urlencoded first, then joined by ":" and base64
// encoded (RFC 7617).
func basicAuth(clientID, clientSecret string) string {
	pair := url.QueryEscape(clientID) + ":" + url.QueryEscape(clientSecret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(pair))
}

// get fetches url and returns at most limit bytes of a 200 body.
func (r restClient) get(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, err // *url.Error already names the method and URL
	}
	return readResponse(resp, limit)
}

// readResponse reads (keep <= 0: discards) the body, always drains and
// closes it so that the connection can be reused.
func readResponse(resp *http.Response, keep int64) ([]byte, error) {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil, &httpStatusError{code: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if keep <= 0 {
		if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain)); err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, keep+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > keep {
		return nil, fmt.Errorf("body larger than %d bytes", keep)
	}
	return b, nil
}

// tokenSet is the pool of access tokens the validate scenarios rotate
// through. The tokens are never printed.
type tokenSet struct {
	tokens    []string
	expiresAt time.Time // zero: unknown
}

// fresh reports whether the tokens stay valid for at least d.
func (t tokenSet) fresh(d time.Duration) bool {
	if len(t.tokens) == 0 {
		return false
	}
	return t.expiresAt.IsZero() || time.Until(t.expiresAt) > d
}

// issueTokens obtains n access tokens via gRPC IssueToken (client
// credentials), par calls at a time.
func issueTokens(ctx context.Context, pool *grpcPool, clientID, clientSecret string, n, par int) (tokenSet, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	tokens := make([]string, n)
	expires := make([]int64, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range min(par, n) {
		wg.Go(func() {
			cl := pool.client(w)
			req := &gatehousev1.IssueTokenRequest{
				GrantType:    grantClientCredentials,
				ClientId:     clientID,
				ClientSecret: clientSecret,
			}
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				resp, err := cl.IssueToken(ctx, req)
				if err != nil {
					cancel(fmt.Errorf("IssueToken: %w", err))
					return
				}
				if resp.GetAccessToken() == "" {
					cancel(errors.New("IssueToken: empty access_token"))
					return
				}
				tokens[i], expires[i] = resp.GetAccessToken(), resp.GetExpiresIn()
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return tokenSet{}, err
	}
	ts := tokenSet{tokens: tokens}
	if shortest := minPositive(expires); shortest > 0 {
		ts.expiresAt = start.Add(time.Duration(shortest) * time.Second)
	}
	return ts, nil
}

func minPositive(xs []int64) int64 {
	var m int64
	for _, x := range xs {
		if x > 0 && (m == 0 || x < m) {
			m = x
		}
	}
	return m
}

// fetchJWKS gets the key set from /.well-known/jwks.json (falling back to
// the gateway's /v1/jwks on 404) and returns it cleaned for a JWK parser.
func fetchJWKS(ctx context.Context, rc restClient) ([]byte, error) {
	raw, err := rc.get(ctx, rc.url("/.well-known/jwks.json"), maxJWKS)
	if se := (*httpStatusError)(nil); errors.As(err, &se) && se.code == http.StatusNotFound {
		raw, err = rc.get(ctx, rc.url("/v1/jwks"), maxJWKS)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	return sanitizeJWKS(raw)
}

// sanitizeJWKS drops empty-string members of each key (the gRPC gateway
// emits unpopulated proto fields, e.g. "crv":"" on an RSA key) and checks
// that the set is not empty.
func sanitizeJWKS(raw []byte) ([]byte, error) {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("JWKS has no keys")
	}
	for _, k := range set.Keys {
		for name, v := range k {
			if s, ok := v.(string); ok && s == "" {
				delete(k, name)
			}
		}
	}
	out, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	return out, nil
}

// jwtLike matches a compact JWS/JWT (three base64url segments).
var jwtLike = regexp.MustCompile(`[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)

// opaqueLike matches gatehouse's opaque tokens and secrets: a short "gh…_"
// prefix (ghr_ refresh, gho_ offline, ghcs_ client secret) and a long
// base64url tail.
var opaqueLike = regexp.MustCompile(`gh[a-z]{1,3}_[A-Za-z0-9_-]{20,}`)

// redactor scrubs tokens and secrets (the client secret, the user's
// password) from messages before they are shown.
type redactor struct {
	secrets []string
}

const (
	maxMsg = 300
	// minRedactLen: shorter secrets are not replaced literally, as that
	// would garble every message (a 1-byte secret matches everywhere) and
	// protects nothing.
	minRedactLen = 6
)

func (r redactor) clean(msg string) string {
	// Literal secrets first: a pattern could otherwise replace part of one
	// and leave the rest.
	for _, s := range r.secrets {
		if len(s) >= minRedactLen {
			msg = strings.ReplaceAll(msg, s, "[secret]")
		}
	}
	msg = jwtLike.ReplaceAllString(msg, "[token]")
	msg = opaqueLike.ReplaceAllString(msg, "[token]")
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxMsg {
		msg = strings.ToValidUTF8(msg[:maxMsg], "") + "…"
	}
	return msg
}
