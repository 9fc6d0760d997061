package server_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// A replica whose issuer differs from the one the database records refuses
// to start, naming both, unless --accept-issuer-change, which records the
// new one. Administrative commands neither check nor record it.
func TestIssuerPinned(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			const first, second = "https://auth.example.com", "https://login.example.com"
			ts := startServer(t, b.DSN(t), func(c *server.Config) { c.Core.Issuer = first })
			open := func(issuer string, role server.Role, accept bool) (*server.App, error) {
				cfg := server.DefaultConfig()
				cfg.DataDir, cfg.DatabaseURL, cfg.MasterKey = ts.dataDir, ts.dsn, ts.masterKy
				cfg.Argon2 = secrets.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
				cfg.Core.Issuer, cfg.Role, cfg.AcceptIssuerChange = issuer, role, accept
				app, err := server.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
				if err == nil {
					t.Cleanup(func() { app.Close() })
				}
				return app, err
			}
			if _, err := open(first, server.RoleServe, false); err != nil {
				t.Fatalf("replica with the recorded issuer: %v", err)
			}
			_, err := open(second, server.RoleServe, false)
			if err == nil || !strings.Contains(err.Error(), first) || !strings.Contains(err.Error(), second) || !strings.Contains(err.Error(), "--accept-issuer-change") {
				t.Fatalf("replica with another issuer: err = %v, want a refusal naming %s, %s and --accept-issuer-change", err, first, second)
			}
			if _, err := open(second, server.RoleAdmin, false); err != nil {
				t.Fatalf("an administrative command does not check the issuer: %v", err)
			}
			// The admin run recorded nothing: serve with the second issuer is still refused.
			if _, err := open(second, server.RoleServe, false); err == nil {
				t.Fatal("an administrative run changed the recorded issuer")
			}
			if _, err := open(second, server.RoleServe, true); err != nil {
				t.Fatalf("--accept-issuer-change: %v", err)
			}
			// The change is recorded: now the first issuer is the one refused.
			if _, err := open(second, server.RoleServe, false); err != nil {
				t.Fatalf("replica with the newly recorded issuer: %v", err)
			}
			if _, err := open(first, server.RoleServe, false); err == nil || !strings.Contains(err.Error(), second) {
				t.Fatalf("replica with the old issuer after the change: err = %v, want a refusal naming %s", err, second)
			}
		})
	}
}
