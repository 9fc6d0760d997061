package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// openRole opens (without serving) another App on ts's database, master key
// and clock, as `serve` (RoleServe) or a CLI command (RoleAdmin) would.
func (ts *testServer) openRole(t *testing.T, role server.Role, opts ...serverOption) (*server.App, *lockedBuffer) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.Role = role
	cfg.DataDir, cfg.DatabaseURL, cfg.MasterKey = ts.dataDir, ts.dsn, ts.masterKy
	cfg.Argon2 = secrets.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	cfg.Now = ts.clock.Now
	for _, o := range opts {
		o(&cfg)
	}
	logs := &lockedBuffer{}
	app, err := server.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatalf("open as %q: %v", role, err)
	}
	t.Cleanup(func() { app.Close() })
	return app, logs
}

func tokenTTL(d time.Duration) serverOption {
	return func(c *server.Config) { c.Core.AccessTokenTTL = d }
}

// TestCLIKeepsRetiredKeyOfLongerTokens is the data-loss case: a server
// issues 1 h tokens and retires its key; a CLI command run with
// --token-ttl 10s well after that, and a replica configured for 10 s tokens,
// must not remove the retired key while 1 h tokens it signed are alive.
func TestCLIKeepsRetiredKeyOfLongerTokens(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			ts := startServer(t, b.DSN(t), tokenTTL(time.Hour), func(c *server.Config) { c.KeyCheckInterval = time.Hour })
			seed(t, ts)
			old := ts.login(t, "alice", "alice-password", "").AccessToken
			h, _ := decodeJWT(t, old)
			oldKID := h["kid"].(string)
			if _, err := ts.admin.RotateSigningKey(ts.adminCtx(t), &gatehousev1.RotateSigningKeyRequest{Immediate: true}); err != nil {
				t.Fatal(err)
			}
			if s := ts.keyStates(t)[oldKID]; s != "retired" {
				t.Fatalf("old key %s, want retired", s)
			}
			ts.clock.Advance(20 * time.Minute) // far past 10 s + leeway, well within 1 h

			// A CLI command with --token-ttl 10s.
			cli, _ := ts.openRole(t, server.RoleAdmin, tokenTTL(10*time.Second))
			if _, err := cli.Core().ListAccounts(ctx, store.KindUser, 100, ""); err != nil {
				t.Fatalf("CLI users list: %v", err)
			}
			if err := cli.Keys().Tick(ctx); err == nil {
				t.Error("a CLI App ran the key schedule")
			}
			cli.Close()

			// A replica configured for 10 s tokens runs its schedule.
			replica, _ := ts.openRole(t, server.RoleServe, tokenTTL(10*time.Second))
			if err := replica.Keys().Tick(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ts.app.Keys().Tick(ctx); err != nil {
				t.Fatal(err)
			}
			if err := ts.app.View().Poll(ctx); err != nil {
				t.Fatal(err)
			}
			if s := ts.keyStates(t)[oldKID]; s != "retired" {
				t.Fatalf("retired key removed while its 1 h tokens live (state %q)", s)
			}
			if _, err := ts.validate(old); err != nil {
				t.Fatalf("token of the retired key refused: %v", err)
			}

			// Once the longest lifetime has passed, it goes.
			ts.clock.Advance(time.Hour)
			if err := replica.Keys().Tick(ctx); err != nil {
				t.Fatal(err)
			}
			if _, ok := ts.keyStates(t)[oldKID]; ok {
				t.Error("retired key kept after its last token expired")
			}
		})
	}
}

// TestKeyPolicyStoredWins: a replica whose default settings disagree with
// the stored policy logs both values and uses the stored ones, also for a
// rotation it starts.
func TestKeyPolicyStoredWins(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			ts := startServer(t, b.DSN(t), func(c *server.Config) {
				c.KeyRotation.PublishLead = 3 * time.Hour
				c.KeyCheckInterval = time.Hour
			})
			r, logs := ts.openRole(t, server.RoleServe, func(c *server.Config) {
				c.KeyRotation.PublishLead = time.Hour
				c.KeyRotation.RotationInterval = 10 * 24 * time.Hour
				c.SigningAlg = "EdDSA"
			})
			out := logs.String()
			for _, want := range []string{
				`level=INFO msg="default key policy settings differ from the ones stored in the database; the stored values are used (change them with ` + "`gatehouse keys policy set`" + `)" `,
				` key-publish-lead.configured=1h0m0s key-publish-lead.stored=3h0m0s`,
				` key-rotation-interval.configured=240h0m0s key-rotation-interval.stored=720h0m0s`,
				` signing-alg.configured=EdDSA signing-alg.stored=ES256`,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("replica log lacks %q:\n%s", want, out)
				}
			}
			p, err := r.Keys().Policy(ctx)
			if err != nil || p.PublishLead != 3*time.Hour || p.Alg != "ES256" || p.RotationInterval != 30*24*time.Hour {
				t.Fatalf("policy = %+v, %v", p, err)
			}
			// A CLI run with yet another lead rotates with the stored one.
			cli, _ := ts.openRole(t, server.RoleAdmin, func(c *server.Config) { c.KeyRotation.PublishLead = time.Minute })
			before := ts.clock.Now()
			if err := cli.Keys().Rotate(ctx, false); err != nil {
				t.Fatal(err)
			}
			list, err := cli.Keys().List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var next *store.SigningKey
			for i, k := range list {
				if k.State == store.KeyNext {
					next = &list[i]
				}
			}
			if next == nil || next.Alg != "ES256" || next.ActivatedAt.Before(before.Add(3*time.Hour-time.Second)) || next.ActivatedAt.After(ts.clock.Now().Add(3*time.Hour)) {
				t.Fatalf("successor %+v, want ES256 signing 3 h from %s", next, before)
			}
		})
	}
}

// TestKeyPolicyExplicitConflict: a replica started with explicit key policy
// flags that differ from the stored policy refuses to start and names both
// values; with --accept-key-policy-change it records them for every replica.
func TestKeyPolicyExplicitConflict(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			ts := startServer(t, b.DSN(t), func(c *server.Config) { c.KeyCheckInterval = time.Hour })
			explicit := func(accept bool) serverOption {
				return func(c *server.Config) {
					c.SigningAlg, c.KeyRotation.PublishLead = "EdDSA", 3*time.Hour
					c.KeyPolicyFlags = []string{"signing-alg", "key-publish-lead"}
					c.AcceptKeyPolicyChange = accept
				}
			}
			cfg := server.DefaultConfig()
			cfg.Role, cfg.DataDir, cfg.DatabaseURL, cfg.MasterKey, cfg.Now = server.RoleServe, ts.dataDir, ts.dsn, ts.masterKy, ts.clock.Now
			explicit(false)(&cfg)
			_, err := server.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			var conflict *keys.PolicyConflictError
			if !errors.As(err, &conflict) {
				t.Fatalf("explicit conflicting flags: %v, want a PolicyConflictError", err)
			}
			for _, want := range []string{"--signing-alg EdDSA (the database records ES256)", "--key-publish-lead 3h0m0s (the database records 2h0m0s)", "--accept-key-policy-change"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if p, err := ts.app.Keys().Policy(ctx); err != nil || p.Alg != "ES256" {
				t.Fatalf("refused start changed the policy: %+v %v", p, err)
			}
			r, logs := ts.openRole(t, server.RoleServe, explicit(true))
			if p, err := r.Keys().Policy(ctx); err != nil || p.Alg != "EdDSA" || p.PublishLead != 3*time.Hour {
				t.Fatalf("accepted change not recorded: %+v %v", p, err)
			}
			if !strings.Contains(logs.String(), "level=WARN msg=\"recorded this server's key policy settings") {
				t.Errorf("no WARN for the recorded change:\n%s", logs)
			}
		})
	}
}

// TestTokenLifetimeMaxMonotonic: every serve raises the stored retention to
// its token lifetime + leeway + 1 min; a shorter one and CLI runs never
// lower it.
func TestTokenLifetimeMaxMonotonic(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			ts := startServer(t, b.DSN(t), func(c *server.Config) { c.KeyCheckInterval = time.Hour })
			retention := func() time.Duration {
				t.Helper()
				p, err := ts.app.Keys().Policy(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return p.RetainRetired
			}
			const extra = 30*time.Second + time.Minute // default leeway + margin
			steps := []struct {
				role server.Role
				ttl  time.Duration
				want time.Duration
			}{
				{server.RoleServe, time.Hour, time.Hour + extra},
				{server.RoleServe, 10 * time.Second, time.Hour + extra},
				{server.RoleAdmin, 24 * time.Hour, time.Hour + extra},
				{server.RoleServe, 2 * time.Hour, 2*time.Hour + extra},
				{server.RoleServe, 15 * time.Minute, 2*time.Hour + extra},
			}
			if got := retention(); got != 15*time.Minute+extra {
				t.Fatalf("first server stored retention %s", got)
			}
			for _, s := range steps {
				app, _ := ts.openRole(t, s.role, tokenTTL(s.ttl))
				app.Close()
				if got := retention(); got != s.want {
					t.Fatalf("after a %q run with %s tokens: retention %s, want %s", s.role, s.ttl, got, s.want)
				}
			}
		})
	}
}

// TestAdminRoleOnEmptyDatabase: a CLI command on an empty database opens it
// without creating keys or storing a policy; what needs keys says that
// `gatehouse serve` must run first.
func TestAdminRoleOnEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	_, master, _ := secrets.GenerateMasterKey()
	ts := &testServer{clock: &clock{}, dataDir: t.TempDir(), masterKy: master}
	// A CLI command on a data directory nobody set up refuses and leaves
	// nothing behind.
	cfg := server.DefaultConfig()
	cfg.Role, cfg.DataDir, cfg.MasterKey = server.RoleAdmin, ts.dataDir, master
	if _, err := server.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "gatehouse migrate up") {
		t.Fatalf("CLI on an empty data directory: %v", err)
	}
	if left, _ := os.ReadDir(ts.dataDir); len(left) != 0 {
		t.Fatalf("the refused CLI run left %v", left)
	}
	// `gatehouse migrate up` sets up the schema only: no keys, no policy.
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cli, _ := ts.openRole(t, server.RoleAdmin)
	if _, err := cli.Core().ListAccounts(ctx, store.KindUser, 10, ""); err != nil {
		t.Fatal(err)
	}
	list, err := cli.Keys().List(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("keys = %v, %v", list, err)
	}
	for name, err := range map[string]error{
		"rotate": cli.Keys().Rotate(ctx, true),
		"policy": func() error { _, err := cli.Keys().Policy(ctx); return err }(),
	} {
		if !errors.Is(err, keys.ErrNoPolicy) || !strings.Contains(err.Error(), "`gatehouse serve`") {
			t.Errorf("%s on an empty database: %v", name, err)
		}
	}
	if list, _ := cli.Keys().List(ctx); len(list) != 0 {
		t.Errorf("the CLI created keys: %v", list)
	}
	cli.Close()
	srv, _ := ts.openRole(t, server.RoleServe)
	list, err = srv.Keys().List(ctx)
	if err != nil || len(list) != 1 || list[0].State != store.KeyActive {
		t.Fatalf("serve on the empty database: %v, %v", list, err)
	}
	if _, err := srv.Keys().Policy(ctx); err != nil {
		t.Fatal(err)
	}
}
