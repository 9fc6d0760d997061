package server_test

import (
	"context"
	"strings"
	"testing"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/server"
)

// benchServer starts a server with one service client and returns it with
// the client's secret.
func benchServer(b testing.TB, opts ...serverOption) (*testServer, string) {
	ts := startServer(b, "", opts...)
	c, err := ts.admin.CreateServiceClient(ts.adminCtx(b), &gatehousev1.CreateServiceClientRequest{ClientId: "bench", Roles: []string{"reader"}})
	if err != nil {
		b.Fatal(err)
	}
	return ts, c.ClientSecret
}

// BenchmarkValidateTokenCore is the hot path without transport: parse,
// verify ES256, check claims and the in-memory view. "cached" validates one
// token over and over (the verify cache answers), "uncached" has the cache
// off so every call verifies the signature.
func BenchmarkValidateTokenCore(b *testing.B) {
	for _, tc := range []struct {
		name string
		size int
	}{{"cached", 10000}, {"uncached", 0}} {
		b.Run(tc.name, func(b *testing.B) { benchValidateCore(b, tc.size) })
	}
}

func benchValidateCore(b *testing.B, cacheSize int) {
	ts, secret := benchServer(b, func(c *server.Config) { c.Core.VerifyCacheSize = cacheSize })
	c := ts.app.Core()
	res, err := c.IssueToken(context.Background(), core.TokenRequest{GrantType: core.GrantClientCredentials, ClientID: "bench", ClientSecret: secret})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.ValidateToken(context.Background(), res.AccessToken, core.ValidateOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkIssueTokenCore is the client_credentials grant without transport
// (one indexed read plus an ES256 signature).
func BenchmarkIssueTokenCore(b *testing.B) {
	ts, secret := benchServer(b)
	c := ts.app.Core()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.IssueToken(context.Background(), core.TokenRequest{GrantType: core.GrantClientCredentials, ClientID: "bench", ClientSecret: secret}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateTokenGRPC is ValidateToken over a loopback gRPC connection.
func BenchmarkValidateTokenGRPC(b *testing.B) {
	ts, secret := benchServer(b)
	res, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "bench", ClientSecret: secret})
	if err != nil {
		b.Fatal(err)
	}
	req := &gatehousev1.ValidateTokenRequest{Token: res.AccessToken}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ts.auth.ValidateToken(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// FuzzValidateToken: whatever the token, ValidateToken answers with a
// caller-facing error kind and never panics.
func FuzzValidateToken(f *testing.F) {
	ts, secret := benchServer(f)
	c := ts.app.Core()
	res, err := c.IssueToken(context.Background(), core.TokenRequest{GrantType: core.GrantClientCredentials, ClientID: "bench", ClientSecret: secret})
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(res.AccessToken, ".")
	for _, seed := range []string{
		res.AccessToken, "", ".", "..", "a.b.c", parts[0] + "." + parts[1] + ".",
		parts[0] + ".e30." + parts[2], "e30.e30.e30", "eyJhbGciOiJub25lIn0.e30.",
		parts[0] + "." + parts[1] + "." + parts[2] + "=", strings.Repeat("A", 9000),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		_, err := c.ValidateToken(context.Background(), token, core.ValidateOptions{})
		if err == nil {
			return
		}
		switch errs.KindOf(err) {
		case errs.InvalidArgument, errs.Unauthenticated, errs.PermissionDenied:
		default:
			t.Fatalf("kind %v for a bad token: %v", errs.KindOf(err), err)
		}
	})
}
