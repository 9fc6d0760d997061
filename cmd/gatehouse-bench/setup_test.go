package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestSanitizeJWKS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{"gateway shape", `{"keys":[{"kty":"EC","kid":"k1","use":"sig","alg":"ES256","crv":"P-256","x":"AA","y":"BB","n":"","e":""}]}`,
			`{"keys":[{"alg":"ES256","crv":"P-256","kid":"k1","kty":"EC","use":"sig","x":"AA","y":"BB"}]}`, false},
		{"clean kept", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AA"}]}`, `{"keys":[{"crv":"Ed25519","kty":"OKP","x":"AA"}]}`, false},
		{"empty set", `{"keys":[]}`, "", true},
		{"no keys member", `{}`, "", true},
		{"not JSON", `<html>`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sanitizeJWKS([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRedactor(t *testing.T) {
	const tok = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzdmMtMSJ9.MEUCIQDx-_abcdefgh"
	r := redactor{secrets: []string{"hunter2-secret", ""}}
	tests := []struct {
		name, in, want string
	}{
		{"token", "bad token " + tok + " here", "bad token [token] here"},
		{"secret", `{"message":"invalid secret hunter2-secret"}`, `{"message":"invalid secret [secret]"}`},
		{"whitespace", "a\n\tb   c", "a b c"},
		{"plain", "rpc error: code = Unavailable", "rpc error: code = Unavailable"},
		{"version numbers stay", "go1.26.8 v3.3.0", "go1.26.8 v3.3.0"},
		{"refresh token", "unknown refresh token ghr_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde!", "unknown refresh token [token]!"},
		{"offline token and client secret", `{"a":"gho_AbCdEfGhIjKlMnOpQrStUv","b":"ghcs_0123456789abcdefghijKL"}`, `{"a":"[token]","b":"[token]"}`},
		{"short gh words stay", "ghr_ gho_short github_actions", "ghr_ gho_short github_actions"},
		{"secret before patterns", "secret ghr_hunter2-secret-and-more-text", "secret ghr_[secret]-and-more-text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.clean(tt.in); got != tt.want {
				t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	long := r.clean(strings.Repeat("é", 400))
	if len(long) > maxMsg+len("…") || !strings.HasSuffix(long, "…") || !utf8.ValidString(long) {
		t.Errorf("long message not truncated cleanly: %d bytes", len(long))
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"grpc", status.Error(codes.Unauthenticated, "no"), "grpc Unauthenticated"},
		{"grpc unavailable", status.Error(codes.Unavailable, "down"), "grpc Unavailable"},
		{"http", &httpStatusError{code: 503}, "http 503"},
		{"wrapped http", fmt.Errorf("x: %w", &httpStatusError{code: 401}), "http 401"},
		{"kind", &kindError{kind: "jwx verify", err: errors.New("bad sig")}, "jwx verify"},
		{"transport", &url.Error{Op: "Post", URL: "http://127.0.0.1:1", Err: errors.New("connection refused")}, "http transport"},
		{"other", errors.New("boom"), "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorKind(tt.err); got != tt.want {
				t.Errorf("errorKind = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTokenSetFresh(t *testing.T) {
	tests := []struct {
		name string
		ts   tokenSet
		d    time.Duration
		want bool
	}{
		{"empty", tokenSet{}, time.Second, false},
		{"no expiry known", tokenSet{tokens: []string{"t"}}, time.Hour, true},
		{"long enough", tokenSet{tokens: []string{"t"}, expiresAt: time.Now().Add(time.Hour)}, time.Minute, true},
		{"too short", tokenSet{tokens: []string{"t"}, expiresAt: time.Now().Add(time.Minute)}, time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ts.fresh(tt.d); got != tt.want {
				t.Errorf("fresh = %v, want %v", got, tt.want)
			}
		})
	}
	if got := minPositive([]int64{0, 900, 300, -1}); got != 300 {
		t.Errorf("minPositive = %d", got)
	}
}

func TestSampleCapacity(t *testing.T) {
	for _, tt := range []struct {
		c    int
		d    time.Duration
		want int
	}{
		{1, time.Millisecond, 1024},
		{32, 10 * time.Second, 31250},
		{1, 10 * time.Minute, 1 << 16},
	} {
		if got := sampleCapacity(tt.c, tt.d); got != tt.want {
			t.Errorf("sampleCapacity(%d, %s) = %d, want %d", tt.c, tt.d, got, tt.want)
		}
	}
}

// TestRESTReusesConnections: bodies are drained and closed, so every call
// after the first rides an idle keep-alive connection, even on errors.
func TestRESTReusesConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "fail") {
			http.Error(w, strings.Repeat("x", 10_000), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(strings.Repeat("y", 100_000)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	rc := restClient{hc: newHTTPClient(1, false), base: base}
	ctx := context.Background()
	for i := range 20 {
		path := "/ok"
		if i%2 == 1 {
			path = "/fail"
		}
		err := rc.post(ctx, rc.url(path), []byte(`{}`))
		if (err != nil) != (i%2 == 1) {
			t.Fatalf("call %d: %v", i, err)
		}
		if he := (*httpStatusError)(nil); err != nil && (!errors.As(err, &he) || len(he.body) > maxErrBody) {
			t.Fatalf("call %d: error %v", i, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 20 sequential calls, want 1", n)
	}
}
