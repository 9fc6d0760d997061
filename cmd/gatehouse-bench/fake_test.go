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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

const (
	testClientID     = "bench-client"
	testClientSecret = "s3cr3t-do-not-print-0123456789"
)

// fakeGatehouse stands in for the server: ES256 tokens signed with jwx, a
// gRPC AuthService and the REST endpoints the tool uses, all on 127.0.0.1.
type fakeGatehouse struct {
	gatehousev1.UnimplementedAuthServiceServer

	priv     jwk.Key
	jwksJSON []byte
	grpcAddr string
	httpURL  string

	// gatewayJWKS serves /.well-known/jwks.json as 404 and /v1/jwks in the
	// gateway's shape (empty members), to exercise the fallback.
	gatewayJWKS bool

	mu     sync.Mutex
	issued []string // every token handed out, to check none is printed

	validated atomic.Int64
}

func newFakeGatehouse(t *testing.T) *fakeGatehouse {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwk.Import(ec)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{jwk.KeyIDKey: "test-key-1", jwk.AlgorithmKey: jwa.ES256(), jwk.KeyUsageKey: "sig"} {
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
	f := &fakeGatehouse{priv: priv, jwksJSON: raw}

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

func (f *fakeGatehouse) issue(id, secret string) (string, error) {
	if id != testClientID || secret != testClientSecret {
		return "", status.Error(codes.Unauthenticated, "invalid client credentials")
	}
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer("fake").Subject("svc-1").
		IssuedAt(now).Expiration(now.Add(15 * time.Minute)).JwtID(rand.Text()).Build()
	if err != nil {
		return "", status.Error(codes.Internal, err.Error())
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256(), f.priv))
	if err != nil {
		return "", status.Error(codes.Internal, err.Error())
	}
	f.mu.Lock()
	f.issued = append(f.issued, string(signed))
	f.mu.Unlock()
	return string(signed), nil
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
	sub, _ := tok.Subject()
	return &gatehousev1.Principal{Subject: sub, Kind: gatehousev1.AccountKind_ACCOUNT_KIND_SERVICE_CLIENT, ClientId: testClientID}, nil
}

func (f *fakeGatehouse) IssueToken(_ context.Context, req *gatehousev1.IssueTokenRequest) (*gatehousev1.IssueTokenResponse, error) {
	if req.GetGrantType() != grantClientCredentials {
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
