package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

const (
	testClientID     = "bench-client"
	testClientSecret = "s3cr3t-do-not-print-0123456789"
	testUsername     = "bench-user"
	testPassword     = "pa55word-do-not-print"
)

// fakeGatehouse stands in for the server: ES256 tokens signed with jwx, a
// gRPC AuthService and the REST endpoints the tool uses, all on 127.0.0.1.
// Refresh tokens rotate as gatehouse's do: each is single-use, and a second
// use of a consumed one is counted in reuses (the real server would revoke
// the session).
type fakeGatehouse struct {
	gatehousev1.UnimplementedAuthServiceServer

	priv     jwk.Key
	jwksJSON []byte
	grpcAddr string
	httpURL  string

	// The service client's credentials; set by options only (before the
	// servers start).
	clientID, clientSecret string

	// gatewayJWKS serves /.well-known/jwks.json as 404 and /v1/jwks in the
	// gateway's shape (empty members), to exercise the fallback.
	gatewayJWKS bool

	mu     sync.Mutex
	issued []string // every token handed out, to check none is printed

	validated atomic.Int64

	refreshMu sync.Mutex
	refresh   map[string]bool // refresh token -> consumed

	logins        atomic.Int64 // successful password grants
	loginBudget   atomic.Int64 // when > 0: password grants allowed in all; later ones fail
	refreshes     atomic.Int64 // refresh_token grants with a known token, consumed or not
	reuses        atomic.Int64 // consumed refresh tokens sent again: must stay 0
	loseRefreshes atomic.Int64 // the next n refreshes consume the token but fail
	introspected  atomic.Int64
	revoked       atomic.Int64 // live refresh tokens revoked
}

// fakeOption configures a fake before its servers start.
type fakeOption func(*fakeGatehouse)

// withClientSecret makes the fake accept another client secret.
func withClientSecret(secret string) fakeOption {
	return func(f *fakeGatehouse) { f.clientSecret = secret }
}

func newFakeGatehouse(t *testing.T, opts ...fakeOption) *fakeGatehouse {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwk.FromRaw(ec)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{jwk.KeyIDKey: "test-key-1", jwk.AlgorithmKey: jwa.ES256, jwk.KeyUsageKey: "sig"} {
		if err := priv.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := priv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeGatehouse{priv: priv, jwksJSON: raw, clientID: testClientID, clientSecret: testClientSecret, refresh: map[string]bool{}}
	for _, o := range opts {
		o(f)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	gatehousev1.RegisterAuthServiceServer(gs, f)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	f.grpcAddr = lis.Addr().String()

	hs := httptest.NewServer(f.httpHandler())
	t.Cleanup(hs.Close)
	f.httpURL = hs.URL
	return f
}

func (f *fakeGatehouse) checkClient(id, secret string) error {
	if id != f.clientID || secret != f.clientSecret {
		return status.Error(codes.Unauthenticated, "invalid client credentials")
	}
	return nil
}

func (f *fakeGatehouse) issue(id, secret string) (string, error) {
	if err := f.checkClient(id, secret); err != nil {
		return "", err
	}
	return f.sign("svc-1")
}

// sign makes an access token for sub.
func (f *fakeGatehouse) sign(sub string) (string, error) {
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer("fake").Subject(sub).
		IssuedAt(now).Expiration(now.Add(15 * time.Minute)).JwtID(rand.Text()).Build()
	if err != nil {
		return "", status.Error(codes.Internal, err.Error())
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, f.priv))
	if err != nil {
		return "", status.Error(codes.Internal, err.Error())
	}
	f.mu.Lock()
	f.issued = append(f.issued, string(signed))
	f.mu.Unlock()
	return string(signed), nil
}

// newRefreshToken hands out a fresh, unused refresh token.
func (f *fakeGatehouse) newRefreshToken() string {
	tok := "ghr_" + rand.Text() + rand.Text()
	f.refreshMu.Lock()
	f.refresh[tok] = false
	f.refreshMu.Unlock()
	f.mu.Lock()
	f.issued = append(f.issued, tok)
	f.mu.Unlock()
	return tok
}

// login runs the password grant: an access token and a new chain.
func (f *fakeGatehouse) login(username, password string) (access, refresh string, err error) {
	if b := f.loginBudget.Load(); b > 0 && f.logins.Load() >= b {
		return "", "", status.Error(codes.Unauthenticated, "login budget exhausted")
	}
	if username != testUsername || password != testPassword {
		// Echo the password, as a careless server might.
		return "", "", status.Errorf(codes.Unauthenticated, "invalid password %s for %s", password, username)
	}
	if access, err = f.sign("user-1"); err != nil {
		return "", "", err
	}
	f.logins.Add(1)
	return access, f.newRefreshToken(), nil
}

// rotate runs the refresh_token grant: it consumes tok and returns an
// access token and tok's successor.
func (f *fakeGatehouse) rotate(tok string) (access, next string, err error) {
	f.refreshMu.Lock()
	used, known := f.refresh[tok]
	if known {
		f.refresh[tok] = true
	}
	f.refreshMu.Unlock()
	switch {
	case !known:
		// Echo the token, as a careless server might.
		return "", "", status.Errorf(codes.Unauthenticated, "unknown refresh token %s", tok)
	case used:
		f.reuses.Add(1)
		return "", "", status.Error(codes.Unauthenticated, "refresh token reused; session revoked")
	}
	f.refreshes.Add(1)
	if takeOne(&f.loseRefreshes) {
		// Consumed, but the answer is lost.
		return "", "", status.Error(codes.Unavailable, "lost the answer")
	}
	if access, err = f.sign("user-1"); err != nil {
		return "", "", err
	}
	return access, f.newRefreshToken(), nil
}

// takeOne decrements n if it is positive and reports whether it did.
func takeOne(n *atomic.Int64) bool {
	for {
		v := n.Load()
		if v <= 0 {
			return false
		}
		if n.CompareAndSwap(v, v-1) {
			return true
		}
	}
}

// introspect answers RFC 7662 for an authenticated client.
func (f *fakeGatehouse) introspect(id, secret, token string) (*gatehousev1.IntrospectTokenResponse, error) {
	if err := f.checkClient(id, secret); err != nil {
		return nil, err
	}
	f.introspected.Add(1)
	p, err := f.verify(token)
	if err != nil {
		return &gatehousev1.IntrospectTokenResponse{}, nil
	}
	return &gatehousev1.IntrospectTokenResponse{Active: true, Sub: p.GetSubject(), ClientId: p.GetClientId(), TokenType: "access_token"}, nil
}

func (f *fakeGatehouse) tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}

func (f *fakeGatehouse) verify(token string) (*gatehousev1.Principal, error) {
	set, err := jwk.Parse(f.jwksJSON)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	tok, err := jwt.Parse([]byte(token), jwt.WithKeySet(set, jws.WithRequireKid(true)))
	if err != nil {
		// Echo the token back, as a careless server might: the tool must
		// redact it.
		return nil, status.Errorf(codes.Unauthenticated, "bad token %s: %v", token, err)
	}
	f.validated.Add(1)
	sub := tok.Subject()
	return &gatehousev1.Principal{Subject: sub, Kind: gatehousev1.AccountKind_ACCOUNT_KIND_SERVICE_CLIENT, ClientId: testClientID}, nil
}

func (f *fakeGatehouse) IssueToken(_ context.Context, req *gatehousev1.IssueTokenRequest) (*gatehousev1.IssueTokenResponse, error) {
	switch req.GetGrantType() {
	case grantPassword, grantRefreshToken:
		// The tool's sessions belong to the default public client.
		if req.GetClientId() != "" || req.GetClientSecret() != "" {
			return nil, status.Error(codes.InvalidArgument, "unexpected client authentication")
		}
		var access, refresh string
		var err error
		if req.GetGrantType() == grantPassword {
			access, refresh, err = f.login(req.GetUsername(), req.GetPassword())
		} else {
			access, refresh, err = f.rotate(req.GetRefreshToken())
		}
		if err != nil {
			return nil, err
		}
		return &gatehousev1.IssueTokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: 900, RefreshToken: refresh}, nil
	case grantClientCredentials:
	default:
		return nil, status.Error(codes.InvalidArgument, "unsupported grant")
	}
	tok, err := f.issue(req.GetClientId(), req.GetClientSecret())
	if err != nil {
		return nil, err
	}
	return &gatehousev1.IssueTokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: 900}, nil
}

func (f *fakeGatehouse) ValidateToken(_ context.Context, req *gatehousev1.ValidateTokenRequest) (*gatehousev1.ValidateTokenResponse, error) {
	p, err := f.verify(req.GetToken())
	if err != nil {
		return nil, err
	}
	return &gatehousev1.ValidateTokenResponse{Principal: p}, nil
}

func (f *fakeGatehouse) RevokeToken(_ context.Context, req *gatehousev1.RevokeTokenRequest) (*gatehousev1.RevokeTokenResponse, error) {
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()
	if used, known := f.refresh[req.GetToken()]; known && !used {
		f.refresh[req.GetToken()] = true
		f.revoked.Add(1)
	}
	return &gatehousev1.RevokeTokenResponse{}, nil // RFC 7009: unknown tokens are no error
}

func (f *fakeGatehouse) IntrospectToken(_ context.Context, req *gatehousev1.IntrospectTokenRequest) (*gatehousev1.IntrospectTokenResponse, error) {
	return f.introspect(req.GetClientId(), req.GetClientSecret(), req.GetToken())
}

func (f *fakeGatehouse) httpHandler() http.Handler {
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/token", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			GrantType    string `json:"grant_type"`
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.GrantType != grantClientCredentials {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "bad request"})
			return
		}
		tok, err := f.issue(in.ClientID, in.ClientSecret)
		if err != nil {
			// Echo the secret, as a careless server might.
			writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 16, "message": "invalid secret " + in.ClientSecret})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": "900", "scope": ""})
	})
	mux.HandleFunc("POST /v1/token:validate", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "bad request"})
			return
		}
		p, err := f.verify(in.Token)
		if err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 16, "message": status.Convert(err).Message()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"principal": map[string]any{"subject": p.GetSubject(), "client_id": p.GetClientId()}})
	})
	oauthError := func(w http.ResponseWriter, code int, kind, desc string) {
		writeJSON(w, code, map[string]string{"error": kind, "error_description": desc})
	}
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		// Form fields in the body only (PostForm), and only with the form
		// content type.
		if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || len(r.URL.RawQuery) > 0 {
			oauthError(w, http.StatusBadRequest, "invalid_request", "want a form body")
			return
		}
		if id, secret, ok := r.BasicAuth(); ok && r.PostForm.Get("grant_type") == grantClientCredentials {
			tok, err := f.issue(id, secret)
			if err != nil {
				oauthError(w, http.StatusUnauthorized, "invalid_client", status.Convert(err).Message())
				return
			}
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 900})
			return
		}
		if r.Header.Get("Authorization") != "" || r.PostForm.Has("client_id") {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "the default client does not authenticate")
			return
		}
		if r.PostForm.Get("grant_type") != grantRefreshToken {
			oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "refresh_token only")
			return
		}
		access, next, err := f.rotate(r.PostForm.Get("refresh_token"))
		if s := status.Convert(err); err != nil && s.Code() == codes.Unavailable {
			oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", s.Message())
			return
		} else if err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_grant", s.Message())
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 900, "refresh_token": next})
	})
	mux.HandleFunc("POST /oauth2/introspect", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || len(r.URL.RawQuery) > 0 {
			oauthError(w, http.StatusBadRequest, "invalid_request", "want a form body")
			return
		}
		// RFC 6749 §2.3.1: both halves are form-encoded inside Basic.
		user, pass, ok := r.BasicAuth()
		id, err1 := url.QueryUnescape(user)
		secret, err2 := url.QueryUnescape(pass)
		if !ok || err1 != nil || err2 != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
			oauthError(w, http.StatusUnauthorized, "invalid_client", "HTTP Basic client authentication required")
			return
		}
		out, err := f.introspect(id, secret, r.PostForm.Get("token"))
		if err != nil {
			oauthError(w, http.StatusUnauthorized, "invalid_client", status.Convert(err).Message())
			return
		}
		if !out.GetActive() {
			writeJSON(w, http.StatusOK, map[string]any{"active": false})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"active": true, "sub": out.GetSub(), "client_id": out.GetClientId(), "token_type": out.GetTokenType()})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		if f.gatewayJWKS {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(f.jwksJSON)
	})
	mux.HandleFunc("GET /v1/jwks", func(w http.ResponseWriter, _ *http.Request) {
		// The gateway's shape: every JSONWebKey field present, empty or not.
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		_ = json.Unmarshal(f.jwksJSON, &set)
		for _, k := range set.Keys {
			for _, name := range []string{"kty", "kid", "use", "alg", "crv", "x", "y", "n", "e"} {
				if _, ok := k[name]; !ok {
					k[name] = ""
				}
			}
		}
		writeJSON(w, http.StatusOK, set)
	})
	return mux
}
