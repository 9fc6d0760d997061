// Package keys manages gatehouse's token signing keys: it creates them,
// seals their private halves under the master key, and builds the in-memory
// Ring that signing, validation and the JWKS endpoint read from.
package keys

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/store"
)

// Manager creates and loads signing keys.
type Manager struct {
	store  *store.Store
	master *secrets.MasterKey
	alg    string
	now    func() time.Time
	log    *slog.Logger
}

// NewManager returns a Manager that signs new keys with alg.
func NewManager(st *store.Store, master *secrets.MasterKey, alg string, now func() time.Time, log *slog.Logger) (*Manager, error) {
	if !jose.Supported(alg) {
		return nil, fmt.Errorf("signing algorithm %q is not supported (use ES256, EdDSA or RS256)", alg)
	}
	return &Manager{store: st, master: master, alg: alg, now: now, log: log}, nil
}

// Ring is an immutable snapshot of the published keys. Replacing the whole
// ring atomically keeps readers lock-free.
type Ring struct {
	Signer   jose.PrivateKey
	verify   map[string]jose.PublicKey
	JWKS     []jose.JWK
	JWKSJSON []byte // RFC 7517 {"keys":[...]}, served as is
	ETag     string // strong validator of JWKSJSON
}

// Key returns the verification key with the given kid.
func (r *Ring) Key(kid string) (jose.PublicKey, bool) {
	k, ok := r.verify[kid]
	return k, ok
}

// sealAD binds a sealed private key to its kid, so that sealed blobs cannot be
// swapped between rows.
func sealAD(kid string) []byte { return []byte("gatehouse signing key:" + kid) }

// EnsureActive creates and activates a key when none is active, as on the
// first start on an empty database.
func (m *Manager) EnsureActive(ctx context.Context) error {
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range stored {
		if k.State == store.KeyActive {
			return nil
		}
	}
	_, err = m.Create(ctx, store.KeyActive)
	return err
}

// Create generates a key with the manager's algorithm and stores it in state.
func (m *Manager) Create(ctx context.Context, state store.KeyState) (store.SigningKey, error) {
	priv, err := jose.GenerateKey(m.alg)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate %s key: %w", m.alg, err)
	}
	jwk, err := jose.PublicJWK(priv.Public())
	if err != nil {
		return store.SigningKey{}, err
	}
	pub, err := json.Marshal(jwk)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode public key: %w", err)
	}
	der, err := jose.MarshalPrivate(priv)
	if err != nil {
		return store.SigningKey{}, err
	}
	sealed, err := m.master.Seal(der, sealAD(priv.KID))
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("seal private key: %w", err)
	}
	k := store.SigningKey{KID: priv.KID, Alg: priv.Alg, State: state, PublicJWK: pub, PrivateSealed: sealed}
	if state == store.KeyActive {
		k.ActivatedAt = m.now().UTC()
	}
	k, err = m.store.CreateSigningKey(ctx, k)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("store signing key: %w", err)
	}
	m.log.Info("created signing key", "kid", k.KID, "alg", k.Alg, "state", k.State)
	return k, nil
}

// Load reads the stored keys and builds a Ring. Only the active key's private
// half is decrypted.
func (m *Manager) Load(ctx context.Context) (*Ring, error) {
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	r := &Ring{verify: make(map[string]jose.PublicKey, len(stored))}
	var active *store.SigningKey
	for i, k := range stored {
		var jwk jose.JWK
		if err := json.Unmarshal(k.PublicJWK, &jwk); err != nil {
			return nil, fmt.Errorf("decode public key %s: %w", k.KID, err)
		}
		pub, err := jose.ParsePublicJWK(jwk)
		if err != nil {
			return nil, fmt.Errorf("public key %s: %w", k.KID, err)
		}
		r.verify[k.KID] = pub
		r.JWKS = append(r.JWKS, jwk)
		if k.State == store.KeyActive && (active == nil || k.ActivatedAt.After(active.ActivatedAt)) {
			active = &stored[i]
		}
	}
	if active == nil {
		return nil, errors.New("no active signing key")
	}
	der, err := m.master.Open(active.PrivateSealed, sealAD(active.KID))
	if err != nil {
		return nil, fmt.Errorf("decrypt signing key %s (is the master key the one it was sealed with?): %w", active.KID, err)
	}
	r.Signer, err = jose.UnmarshalPrivate(active.Alg, active.KID, der)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", active.KID, err)
	}
	r.JWKSJSON, err = json.Marshal(struct {
		Keys []jose.JWK `json:"keys"`
	}{Keys: nonNil(r.JWKS)})
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	sum := sha256.Sum256(r.JWKSJSON)
	r.ETag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return r, nil
}

func nonNil(s []jose.JWK) []jose.JWK {
	if s == nil {
		return []jose.JWK{}
	}
	return s
}
