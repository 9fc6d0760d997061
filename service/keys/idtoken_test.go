package keys_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestIDTokenKeyLifecycle: the RS256 ID-token key starts with
// EnsureIDTokenKey, signs ID tokens only (never access tokens), is
// published, rotates with the access-token key, and is not made when
// access tokens are RS256.
func TestIDTokenKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends(t) {
		for _, tc := range []struct {
			alg    string
			wantID bool // a key of its own for ID tokens
		}{{jose.ES256, true}, {jose.EdDSA, true}, {jose.RS256, false}} {
			t.Run(b.Name+"/"+tc.alg, func(t *testing.T) {
				st, err := store.Open(ctx, b.DSN(t))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				mk, _, err := secrets.GenerateMasterKey()
				if err != nil {
					t.Fatal(err)
				}
				now := time.Now().UTC()
				clock := func() time.Time { return now }
				m, err := keys.NewManager(st, &keys.MasterKeys{Primary: mk}, keys.Options{
					Alg: tc.alg, Schedule: true,
					Policy: keys.Policy{RotationInterval: 30 * 24 * time.Hour, PublishLead: 2 * time.Hour, RetainRetired: time.Hour},
				}, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
				if err != nil {
					t.Fatal(err)
				}
				if err := m.Start(ctx); err != nil {
					t.Fatal(err)
				}
				ring, err := m.Load(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(ring.Published) != 1 || (ring.IDSigner.Key != nil) != (tc.alg == jose.RS256) {
					t.Fatalf("before OIDC: %d published, ID signer %v", len(ring.Published), ring.IDSigner.Alg)
				}
				if err := m.EnsureIDTokenKey(ctx); err != nil {
					t.Fatal(err)
				}
				if err := m.EnsureIDTokenKey(ctx); err != nil { // idempotent
					t.Fatal(err)
				}
				if ring, err = m.Load(ctx); err != nil {
					t.Fatal(err)
				}
				wantPublished := 1
				if tc.wantID {
					wantPublished = 2
				}
				if len(ring.Published) != wantPublished || ring.IDSigner.Alg != jose.RS256 || ring.Signer.Alg != tc.alg {
					t.Fatalf("after OIDC: %d published, signer %s, ID signer %s", len(ring.Published), ring.Signer.Alg, ring.IDSigner.Alg)
				}
				if _, ok := ring.Key(ring.IDSigner.KID); ok != !tc.wantID {
					t.Errorf("ID-token key verifies access tokens: %v", ok)
				}
				// An immediate rotation replaces both keys.
				oldID := ring.IDSigner.KID
				now = now.Add(time.Minute)
				if err := m.Rotate(ctx, true); err != nil {
					t.Fatal(err)
				}
				if ring, err = m.Load(ctx); err != nil {
					t.Fatal(err)
				}
				if ring.IDSigner.KID == oldID || ring.IDSigner.Alg != jose.RS256 {
					t.Errorf("ID signer after rotation: %s (was %s)", ring.IDSigner.KID, oldID)
				}
				if len(ring.Published) != 2*wantPublished {
					t.Errorf("%d published after rotation, want %d (retired keys stay)", len(ring.Published), 2*wantPublished)
				}
				// After the retention the retired keys are removed.
				now = now.Add(2 * time.Hour)
				if err := m.Tick(ctx); err != nil {
					t.Fatal(err)
				}
				if ring, err = m.Load(ctx); err != nil {
					t.Fatal(err)
				}
				if len(ring.Published) != wantPublished {
					t.Errorf("%d published after the retention, want %d", len(ring.Published), wantPublished)
				}
			})
		}
	}
}
