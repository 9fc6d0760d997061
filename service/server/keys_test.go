package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestSigningAlgorithms: every supported algorithm signs tokens that
// gatehouse and a generic JWT library verify from the published JWKS alone,
// and the JWKS never carries private key material.
func TestSigningAlgorithms(t *testing.T) {
	for _, tc := range []struct {
		alg     string
		bits    int
		kty     string
		nLength int // base64url length of the RSA modulus
	}{
		{"ES256", 0, "EC", 0},
		{"EdDSA", 0, "OKP", 0},
		{"RS256", 2048, "RSA", 342},
		{"RS256", 3072, "RSA", 512},
	} {
		t.Run(fmt.Sprintf("%s-%d", tc.alg, tc.bits), func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, "", func(c *server.Config) { c.SigningAlg, c.RSABits = tc.alg, max(tc.bits, 2048) })
			seed(t, ts)
			tok := ts.login(t, "alice", "alice-password", "").AccessToken
			if h, _ := decodeJWT(t, tok); h["alg"] != tc.alg {
				t.Errorf("token alg = %v", h["alg"])
			}
			if _, err := ts.validate(tok); err != nil {
				t.Fatal(err)
			}
			r := ts.do(t, "GET", "/.well-known/jwks.json", "", "", "")
			var set struct{ Keys []map[string]string }
			if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS: %s", r.body)
			}
			k := set.Keys[0]
			if k["kty"] != tc.kty || k["alg"] != tc.alg || k["use"] != "sig" || k["kid"] == "" || (tc.nLength > 0 && len(k["n"]) != tc.nLength) {
				t.Errorf("JWK = %v", k)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
				if _, ok := k[private]; ok {
					t.Errorf("JWKS carries private member %q", private)
				}
			}
			keySet, err := jwk.Parse(r.body)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jwt.Parse([]byte(tok), jwt.WithKeySet(keySet), jwt.WithClock(jwt.ClockFunc(ts.clock.Now))); err != nil {
				t.Errorf("jwx rejects the %s token: %v", tc.alg, err)
			}
		})
	}
}

func (ts *testServer) keyStates(t *testing.T) map[string]string {
	t.Helper()
	res, err := ts.admin.ListSigningKeys(ts.adminCtx(t), &gatehousev1.ListSigningKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range res.Keys {
		out[k.Kid] = k.State
	}
	return out
}

func (ts *testServer) jwksKids(t *testing.T) []string {
	t.Helper()
	var set struct{ Keys []struct{ Kid string } }
	json.Unmarshal(ts.do(t, "GET", "/.well-known/jwks.json", "", "", "").body, &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestScheduledRotation drives the lifecycle with the clock: a successor is
// published ahead, takes over, and the old key leaves the JWKS once its last
// token has expired. No token ever fails in between.
func TestScheduledRotation(t *testing.T) {
	ts := startServer(t, "", func(c *server.Config) {
		c.KeyRotation.RotationInterval = 24 * time.Hour
		c.KeyRotation.PublishLead = 2 * time.Hour
		c.KeyCheckInterval = time.Hour // the test ticks by hand
	})
	seed(t, ts)
	tick := func() {
		t.Helper()
		if err := ts.app.Keys().Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := ts.app.View().Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	first := ts.jwksKids(t)
	ts.clock.Advance(22*time.Hour + time.Minute) // within the lead of the due rotation
	tick()
	if kids := ts.jwksKids(t); len(kids) != 2 {
		t.Fatalf("successor not published 2 h ahead: %v", kids)
	}
	ts.clock.Advance(2*time.Hour - time.Minute)
	tick()
	beforeSwitch := ts.login(t, "alice", "alice-password", "").AccessToken
	if h, _ := decodeJWT(t, beforeSwitch); h["kid"] != first[0] {
		t.Error("the successor signs before its publish lead has passed")
	}
	ts.clock.Advance(time.Minute)
	tick()
	newTok := ts.login(t, "alice", "alice-password", "").AccessToken
	if h, _ := decodeJWT(t, newTok); h["kid"] == first[0] {
		t.Fatal("no switch after the publish lead")
	}
	states := ts.keyStates(t)
	if states[first[0]] != "retired" {
		t.Errorf("old key state = %v", states)
	}
	// The retired key stays until its last token expired (15 min + leeway).
	ts.clock.Advance(10 * time.Minute)
	tick()
	if len(ts.jwksKids(t)) != 2 {
		t.Error("retired key withdrawn while its tokens may still be valid")
	}
	if _, err := ts.validate(beforeSwitch); err != nil {
		t.Errorf("a token of the retired key failed before it expired: %v", err)
	}
	ts.clock.Advance(10 * time.Minute)
	tick()
	if kids := ts.jwksKids(t); len(kids) != 1 || kids[0] == first[0] {
		t.Errorf("retired key still published after its tokens expired: %v", kids)
	}
	if _, err := ts.validate(ts.login(t, "alice", "alice-password", "").AccessToken); err != nil {
		t.Errorf("token of the new key after the old one left: %v", err)
	}
	// Manual rotation: publish now, sign after the lead; --now switches at once.
	if _, err := ts.admin.RotateSigningKey(ts.adminCtx(t), &gatehousev1.RotateSigningKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	if len(ts.jwksKids(t)) != 2 {
		t.Error("manual rotation did not publish a successor")
	}
	res, err := ts.admin.RotateSigningKey(ts.adminCtx(t), &gatehousev1.RotateSigningKeyRequest{Immediate: true})
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, k := range res.Keys {
		if k.State == "active" {
			active++
		}
	}
	if active != 1 {
		t.Errorf("%d active keys after an immediate rotation", active)
	}
}

// TestRevokedKeyRefusedEverywhere: revoking the signing key on one server
// makes a second server process refuse every token it signed within 10 s,
// while tokens from the successor work on both.
func TestRevokedKeyRefusedEverywhere(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ts := startServer(t, b.DSN(t))
			seed(t, ts)
			other := startProcess(t, ts)
			tok := ts.login(t, "alice", "alice-password", "").AccessToken
			if _, err := other.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok}); err != nil {
				t.Fatal(err)
			}
			h, _ := decodeJWT(t, tok)
			if _, err := ts.admin.RevokeSigningKey(ts.adminCtx(t), &gatehousev1.RevokeSigningKeyRequest{Kid: h["kid"].(string)}); err != nil {
				t.Fatal(err)
			}
			if _, err := ts.validate(tok); status.Code(err) != codes.Unauthenticated {
				t.Errorf("own replica after revoke: %v", err)
			}
			took := eventually(t, 10*time.Second, "other process refuses the revoked key", func() error {
				_, err := other.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok})
				if status.Code(err) == codes.Unauthenticated {
					return nil
				}
				return fmt.Errorf("still %v", err)
			})
			t.Logf("revoked key refused by the other process after %s", took.Round(time.Millisecond))
			if kids := ts.jwksKids(t); len(kids) != 1 || kids[0] == h["kid"] {
				t.Errorf("JWKS after revoke = %v", kids)
			}
			fresh := ts.login(t, "alice", "alice-password", "").AccessToken
			if _, err := other.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: fresh}); err != nil {
				t.Errorf("successor's token on the other process: %v", err)
			}
			if _, err := ts.admin.RevokeSigningKey(ts.adminCtx(t), &gatehousev1.RevokeSigningKeyRequest{Kid: "nope"}); status.Code(err) != codes.NotFound {
				t.Errorf("revoke unknown kid: %v", err)
			}
		})
	}
}

// TestRotationUnderLoad: two server processes on one PostgreSQL database
// rotate every few seconds (each may be the one that acts); a validator
// checks a stream of tokens issued by both, before, during and after several
// rotations, on both. Not one validation may fail.
func TestRotationUnderLoad(t *testing.T) {
	if !storetest.PostgresConfigured() {
		t.Skipf("needs PostgreSQL: set %s", storetest.EnvPostgres)
	}
	fast := func(c *server.Config) {
		c.KeyRotation.RotationInterval = 4 * time.Second
		c.KeyRotation.PublishLead = 2 * time.Second
		c.KeyCheckInterval = 300 * time.Millisecond
		c.View.PollInterval = 300 * time.Millisecond
	}
	ts := startServer(t, storetest.PostgresDSN(t), fast)
	_, secret := seed(t, ts)
	other := startProcess(t, ts, "--key-rotation-interval", "4s", "--key-publish-lead", "2s", "--key-check-interval", "300ms", "--poll-interval", "300ms")
	issuers := []gatehousev1.AuthServiceClient{ts.auth, other}
	ctx, cancel := context.WithTimeout(context.Background(), 16*time.Second)
	defer cancel()
	var issued, checked, failed atomic.Int64
	kids := sync.Map{}
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				res, err := issuers[(w+i)%2].IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "reporter", ClientSecret: secret})
				if err != nil {
					// gRPC's own deadline timer may fire just before ctx reports it:
					// the run is over, not failed.
					if c := status.Code(err); ctx.Err() == nil && c != codes.DeadlineExceeded && c != codes.Canceled {
						failed.Add(1)
						t.Errorf("issue: %v", err)
					}
					return
				}
				issued.Add(1)
				h, _ := decodeJWT(t, res.AccessToken)
				kids.Store(h["kid"], true)
				for _, v := range issuers {
					if _, err := v.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: res.AccessToken}); err != nil {
						failed.Add(1)
						t.Errorf("validation failed during rotation (kid %v): %v", h["kid"], err)
					}
					checked.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	n := 0
	kids.Range(func(any, any) bool { n++; return true })
	t.Logf("%d tokens from %d keys, %d validations, %d failed", issued.Load(), n, checked.Load(), failed.Load())
	if n < 3 {
		t.Errorf("only %d signing keys were used: rotation did not happen several times", n)
	}
	active := 0
	for _, s := range ts.keyStates(t) {
		if s == "active" {
			active++
		}
	}
	if active != 1 {
		t.Errorf("%d active keys", active)
	}
}

// TestRewrapWithoutDowntime: the documented master-key rotation. Replicas
// first get the new key as primary and the old one as previous, then
// `keys rewrap` re-seals everything, then the old key is dropped; client
// secrets, refresh tokens and signing keys work throughout.
func TestRewrapWithoutDowntime(t *testing.T) {
	ts := startServer(t, "")
	_, secret := seed(t, ts)
	refresh := ts.login(t, "alice", "alice-password", "").RefreshToken
	oldKey := ts.masterKy
	_, newKey, err := secrets.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	// Step 1: a replica with the new primary and the old key as previous.
	ts.masterKy = newKey
	both := ts.replica(t, func(c *server.Config) { c.PreviousMasterKeys = []string{oldKey} })
	n, _, err := both.app.Keys().Rewrap(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("rewrap = %d, %v", n, err)
	}
	// Step 2: the old key is gone; everything still works.
	only := ts.replica(t)
	if _, err := only.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "reporter", ClientSecret: secret}); err != nil {
		t.Errorf("client secret after rewrap: %v", err)
	}
	if _, err := only.refresh(refresh); err != nil {
		t.Errorf("refresh token after rewrap: %v", err)
	}
	if _, err := only.validate(only.login(t, "alice", "alice-password", "").AccessToken); err != nil {
		t.Errorf("signing after rewrap: %v", err)
	}
	// A replica with only the old key can no longer open anything.
	ts.masterKy = oldKey
	cfg := server.DefaultConfig()
	cfg.DatabaseURL, cfg.DataDir, cfg.MasterKey = ts.dsn, ts.dataDir, oldKey
	if ts.dsn == "" {
		cfg.DatabaseURL = ""
	}
	if _, err := server.Open(context.Background(), cfg, only.app.Logger()); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Errorf("opening with the retired master key: %v", err)
	}
}

// TestSeveralProcessesOneActiveKey: three server processes start at once on
// an empty PostgreSQL database and rotate every few seconds; at every sample
// exactly one key is active.
func TestSeveralProcessesOneActiveKey(t *testing.T) {
	if !storetest.PostgresConfigured() {
		t.Skipf("needs PostgreSQL: set %s", storetest.EnvPostgres)
	}
	_, master, _ := secrets.GenerateMasterKey()
	ts := &testServer{dsn: storetest.PostgresDSN(t), dataDir: t.TempDir(), masterKy: master}
	buildBinary(t)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			startProcess(t, ts, "--key-rotation-interval", "3s", "--key-publish-lead", "1s", "--key-check-interval", "100ms")
		})
	}
	wg.Wait()
	st, err := store.Open(context.Background(), ts.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[string]bool{}
	for range 40 {
		keys, err := st.SigningKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, k := range keys {
			seen[k.KID] = true
			if k.State == store.KeyActive {
				active++
			}
		}
		if active != 1 {
			t.Fatalf("%d active keys among %d", active, len(keys))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(seen) < 3 {
		t.Errorf("only %d keys over 8 s of 3 s rotations", len(seen))
	}
}
