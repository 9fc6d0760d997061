package server_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestUpgradeFromPreviousRelease serves a database written by the last
// release before versioned migrations (a fixture made from git history):
// SQLite upgrades at start; PostgreSQL refuses until the operator migrates
// (here: --auto-migrate). Afterwards the old release's user, client, signing
// keys, access token, refresh token and offline token all still work.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			fx := storetest.LoadUpgradeFixture(t, b.Name, dsn)
			ts := &testServer{clock: &clock{}, adminPW: testAdminPassword, dsn: dsn, dataDir: t.TempDir(), masterKy: fx.MasterKey}
			// Run a minute after the fixture was made, so its tokens are live.
			ts.clock.Advance(time.Until(time.Unix(fx.MadeAt, 0).Add(time.Minute)))
			issuer := func(c *server.Config) { c.Core.Issuer = fx.Issuer }
			if b.Name == "postgres" {
				cfg := server.DefaultConfig()
				cfg.DatabaseURL, cfg.DataDir, cfg.MasterKey, cfg.Now = dsn, ts.dataDir, fx.MasterKey, ts.clock.Now
				issuer(&cfg)
				_, err := server.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
				if err == nil || !strings.Contains(err.Error(), "unversioned") || !strings.Contains(err.Error(), "gatehouse migrate up") {
					t.Fatalf("serve on a PostgreSQL database behind the binary: %v, want a refusal naming both versions and `gatehouse migrate up`", err)
				}
				ts.start(t, issuer, func(c *server.Config) { on := true; c.AutoMigrate = &on })
			} else {
				ts.start(t, issuer)
			}
			ctx := context.Background()

			v, err := ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: fx.AccessToken})
			if err != nil || v.GetPrincipal().GetUsername() != fx.Username {
				t.Fatalf("the old release's access token: %v %v", v, err)
			}
			pw, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: fx.Username, Password: fx.Password})
			if err != nil {
				t.Fatalf("password grant for the old release's user: %v", err)
			}
			if _, err := ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: pw.GetAccessToken()}); err != nil {
				t.Fatalf("new token: %v", err)
			}
			if _, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: fx.ClientID, ClientSecret: fx.ClientSecret}); err != nil {
				t.Fatalf("client_credentials for the old release's client: %v", err)
			}
			for name, rt := range map[string]string{"refresh": fx.RefreshToken, "offline": fx.OfflineToken} {
				r, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "refresh_token", RefreshToken: rt})
				if err != nil || r.GetAccessToken() == "" {
					t.Fatalf("the old release's %s token: %v", name, err)
				}
			}
			jwks, err := ts.auth.GetJWKS(ctx, &gatehousev1.GetJWKSRequest{})
			if err != nil || len(jwks.GetKeys()) == 0 {
				t.Fatalf("JWKS after upgrade: %v", err)
			}
		})
	}
}
