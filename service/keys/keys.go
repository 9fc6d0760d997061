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
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/store"
)

// Manager creates, rotates and loads signing keys. Its own configuration
// (Options) is only what `gatehouse serve` offers for the stored key policy
// (see StoredPolicy); every lifecycle step uses the stored policy.
type Manager struct {
	store    *store.Store
	master   *MasterKeys
	alg      string
	rsaBits  int
	policy   Policy
	schedule bool
	// explicit and acceptChange: see Options.
	explicit     []string
	acceptChange bool
	now          func() time.Time
	log          *slog.Logger
}

// Options configure a Manager.
type Options struct {
	Alg     string // algorithm of new keys (ES256, EdDSA, RS256)
	RSABits int    // 2048 (default) or 3072, for RS256
	Policy  Policy
	// Schedule is set only for `gatehouse serve`: it may store the key
	// policy and run the scheduled lifecycle (Start, Tick), and requires an
	// active key. Without it (CLI commands) keys change only through the
	// explicit Rotate and Revoke, and a database without keys opens with an
	// empty ring that cannot sign.
	Schedule bool
	// Explicit names the policy settings the operator gave on purpose
	// ("signing-alg", "rsa-bits", "key-rotation-interval",
	// "key-publish-lead"). At Start one that differs from the stored policy
	// stops the server, unless AcceptChange records it; settings left at
	// their defaults follow the stored policy.
	Explicit     []string
	AcceptChange bool
}

// errNoSchedule guards the scheduled lifecycle against non-serve callers.
var errNoSchedule = errors.New("the key schedule runs only in `gatehouse serve`")

// NewManager returns a Manager.
func NewManager(st *store.Store, master *MasterKeys, o Options, now func() time.Time, log *slog.Logger) (*Manager, error) {
	if !jose.Supported(o.Alg) {
		return nil, fmt.Errorf("signing algorithm %q is not supported (use ES256, EdDSA or RS256)", o.Alg)
	}
	if o.RSABits == 0 {
		o.RSABits = 2048
	}
	if o.RSABits != 2048 && o.RSABits != 3072 {
		return nil, fmt.Errorf("RSA key size %d is not supported (use 2048 or 3072)", o.RSABits)
	}
	if err := o.Policy.Validate(); err != nil {
		return nil, err
	}
	return &Manager{store: st, master: master, alg: o.Alg, rsaBits: o.RSABits, policy: o.Policy, schedule: o.Schedule, explicit: o.Explicit, acceptChange: o.AcceptChange, now: now, log: log}, nil
}

// Ring is an immutable snapshot of the published keys. Replacing the whole
// ring atomically keeps readers lock-free.
type Ring struct {
	Signer jose.PrivateKey
	// IDSigner signs OIDC ID tokens with RS256: the RS256 ID-token key
	// (store.KeyPurposeIDToken), or Signer itself when access tokens are
	// RS256 too. Its key is nil when there is none.
	IDSigner  jose.PrivateKey
	verify    map[string]jose.PublicKey
	Published []jose.PublicKey // every key in the JWKS, oldest first
	JWKSJSON  []byte           // RFC 7517 {"keys":[...]} as jwx encodes it, served as is
	ETag      string           // strong validator of JWKSJSON
	// States counts the stored keys by lifecycle state and ActiveSince is
	// when Signer became active, for metrics.
	States      map[store.KeyState]int
	ActiveSince time.Time
}

// Key returns the verification key with the given kid.
func (r *Ring) Key(kid string) (jose.PublicKey, bool) {
	k, ok := r.verify[kid]
	return k, ok
}

// sealAD binds a sealed private key to its kid, so that sealed blobs cannot be
// swapped between rows.
func sealAD(kid string) []byte { return []byte("gatehouse signing key:" + kid) }

// Tick runs the scheduled lifecycle step (publish successors, switch,
// remove expired keys) with the stored key policy, read under the
// database's key lock, so that replicas ticking together act once and a
// policy change reaches every replica at its next tick. Only `serve` ticks;
// its first step is Start.
func (m *Manager) Tick(ctx context.Context) error {
	if !m.schedule {
		return errNoSchedule
	}
	return m.withPolicy(ctx, "scheduled", func(keys []store.SigningKey, p StoredPolicy) (store.KeyChanges, error) {
		return m.byPurpose(keys, p, func(keys []store.SigningKey, newKey newKeyFunc) (store.KeyChanges, error) {
			return plan(keys, m.now().UTC(), p.Lifecycle(), newKey)
		})
	})
}

// Rotate starts a rotation now (see planRotate), with the stored policy's
// publish lead and algorithm.
func (m *Manager) Rotate(ctx context.Context, immediate bool) error {
	return m.withPolicy(ctx, "rotate", func(keys []store.SigningKey, p StoredPolicy) (store.KeyChanges, error) {
		return m.byPurpose(keys, p, func(keys []store.SigningKey, newKey newKeyFunc) (store.KeyChanges, error) {
			return planRotate(keys, m.now().UTC(), p.Lifecycle(), immediate, newKey)
		})
	})
}

// Revoke withdraws a key at once (see planRevoke).
func (m *Manager) Revoke(ctx context.Context, kid string) error {
	return m.withPolicy(ctx, "revoke", func(keys []store.SigningKey, p StoredPolicy) (store.KeyChanges, error) {
		newKey := m.newKeyFunc(p)
		if i := slices.IndexFunc(keys, func(k store.SigningKey) bool { return k.KID == kid }); i >= 0 && keys[i].Purpose == store.KeyPurposeIDToken {
			keys, newKey = purposeKeys(keys, store.KeyPurposeIDToken), m.newIDKeyFunc(p)
		} else {
			keys = purposeKeys(keys, "")
		}
		return planRevoke(keys, kid, m.now().UTC(), p.Lifecycle(), newKey)
	})
}

// withPolicy runs a lifecycle step under the key lock with the stored
// policy; ErrNoPolicy when none is stored.
func (m *Manager) withPolicy(ctx context.Context, why string, step func(keys []store.SigningKey, p StoredPolicy) (store.KeyChanges, error)) error {
	return m.store.ChangeKeysWith(ctx, policySetting, func(keys []store.SigningKey, sealed []byte) (store.KeyChanges, []byte, error) {
		p, err := m.openPolicy(sealed)
		if err != nil {
			return store.KeyChanges{}, nil, err
		}
		c, err := step(keys, p)
		if err != nil {
			return store.KeyChanges{}, nil, err
		}
		m.logChanges(why, c)
		return c, nil, nil
	})
}

// List returns every stored key, oldest first.
func (m *Manager) List(ctx context.Context) ([]store.SigningKey, error) {
	var out []store.SigningKey
	err := m.store.ChangeKeys(ctx, func(keys []store.SigningKey) (store.KeyChanges, error) {
		out = keys
		return store.KeyChanges{}, nil
	})
	return out, err
}

// Rewrap re-seals every private key and shared secret under the primary
// master key; values sealed under a previous master key are opened with it.
func (m *Manager) Rewrap(ctx context.Context) (keys, settings int, err error) {
	reseal := func(ad []byte, sealed []byte) ([]byte, error) {
		plain, err := m.master.Open(sealed, ad)
		if err != nil {
			return nil, err
		}
		return m.master.Seal(plain, ad)
	}
	return m.store.Rewrap(ctx,
		func(kid string, sealed []byte) ([]byte, error) { return reseal(sealAD(kid), sealed) },
		func(name string, sealed []byte) ([]byte, error) { return reseal(SettingAD(name), sealed) })
}

func (m *Manager) logChanges(why string, c store.KeyChanges) {
	for _, k := range c.Create {
		m.log.Info("signing key created", "why", why, "kid", k.KID, "alg", k.Alg, "state", k.State, "activates", k.ActivatedAt)
	}
	for _, k := range c.Update {
		m.log.Info("signing key changed", "why", why, "kid", k.KID, "state", k.State)
	}
	for _, kid := range c.Delete {
		m.log.Info("signing key removed", "why", why, "kid", kid)
	}
}

// newKeyFunc generates keys with the policy's algorithm, sealed.
func (m *Manager) newKeyFunc(p StoredPolicy) newKeyFunc {
	return func(state store.KeyState, activatedAt time.Time) (store.SigningKey, error) {
		return m.newKey(p.Alg, p.RSABits, state, activatedAt)
	}
}

// newIDKeyFunc generates RS256 ID-token keys, sealed.
func (m *Manager) newIDKeyFunc(p StoredPolicy) newKeyFunc {
	return func(state store.KeyState, activatedAt time.Time) (store.SigningKey, error) {
		k, err := m.newKey(jose.RS256, p.RSABits, state, activatedAt)
		k.Purpose = store.KeyPurposeIDToken
		return k, err
	}
}

// byPurpose runs a lifecycle step on the access-token keys and on the RS256
// ID-token keys, each a lifecycle of its own under the same policy. The
// ID-token track starts with EnsureIDTokenKey, the first time an OIDC
// client is registered, so that servers without OIDC publish no extra key.
// With RS256 access tokens the access-token key signs ID tokens too, and
// the ID-token keys are retired and then removed.
func (m *Manager) byPurpose(keys []store.SigningKey, p StoredPolicy, step func(keys []store.SigningKey, newKey newKeyFunc) (store.KeyChanges, error)) (store.KeyChanges, error) {
	c, err := step(purposeKeys(keys, ""), m.newKeyFunc(p))
	if err != nil {
		return store.KeyChanges{}, err
	}
	idKeys := purposeKeys(keys, store.KeyPurposeIDToken)
	var ic store.KeyChanges
	switch {
	case len(idKeys) == 0:
		// No ID-token key until OIDC is used (EnsureIDTokenKey).
	case p.Alg == jose.RS256:
		ic = retireAll(idKeys, m.now().UTC(), p.Lifecycle())
	default:
		if ic, err = step(idKeys, m.newIDKeyFunc(p)); err != nil {
			return store.KeyChanges{}, err
		}
	}
	c.Create = append(c.Create, ic.Create...)
	c.Update = append(c.Update, ic.Update...)
	c.Delete = append(c.Delete, ic.Delete...)
	return c, nil
}

// EnsureIDTokenKey starts the RS256 ID-token key lifecycle: unless access
// tokens are RS256 (their key signs ID tokens) or an ID-token key signs
// already, a new one signs from now on. The scheduled lifecycle (Tick)
// rotates it from then on. Like Rotate it needs a stored policy.
func (m *Manager) EnsureIDTokenKey(ctx context.Context) error {
	return m.withPolicy(ctx, "oidc", func(keys []store.SigningKey, p StoredPolicy) (store.KeyChanges, error) {
		idKeys := purposeKeys(keys, store.KeyPurposeIDToken)
		if p.Alg == jose.RS256 || slices.ContainsFunc(idKeys, func(k store.SigningKey) bool { return k.State == store.KeyActive }) {
			return store.KeyChanges{}, nil
		}
		return plan(idKeys, m.now().UTC(), p.Lifecycle(), m.newIDKeyFunc(p))
	})
}

// purposeKeys returns the keys of one purpose.
func purposeKeys(keys []store.SigningKey, purpose string) []store.SigningKey {
	var out []store.SigningKey
	for _, k := range keys {
		if k.Purpose == purpose {
			out = append(out, k)
		}
	}
	return out
}

// newKey generates a key, sealed.
func (m *Manager) newKey(alg string, rsaBits int, state store.KeyState, activatedAt time.Time) (store.SigningKey, error) {
	var priv jose.PrivateKey
	var err error
	if alg == jose.RS256 {
		priv, err = jose.GenerateRSAKey(rsaBits)
	} else {
		priv, err = jose.GenerateKey(alg)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate %s key: %w", alg, err)
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
	return store.SigningKey{KID: priv.KID, Alg: priv.Alg, State: state, PublicJWK: pub, PrivateSealed: sealed, ActivatedAt: activatedAt}, nil
}

// Load reads the stored keys and builds a Ring. Only the active keys'
// private halves are decrypted. Without an active key, a scheduling (serve)
// manager fails; any other returns a ring whose Signer is zero (it cannot
// sign). ID-token keys are published but never verify access tokens.
func (m *Manager) Load(ctx context.Context) (*Ring, error) {
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	r := &Ring{verify: make(map[string]jose.PublicKey, len(stored)), States: make(map[store.KeyState]int)}
	var active, idActive *store.SigningKey
	for i, k := range stored {
		pub, err := jose.ParseJWKJSON(k.PublicJWK)
		if err != nil {
			return nil, fmt.Errorf("public key %s: %w", k.KID, err)
		}
		if pub.KID != k.KID || pub.Alg != k.Alg {
			return nil, fmt.Errorf("public key %s: stored JWK says kid %q, alg %q", k.KID, pub.KID, pub.Alg)
		}
		r.Published = append(r.Published, pub)
		if k.Purpose == store.KeyPurposeIDToken {
			if k.State == store.KeyActive && (idActive == nil || k.ActivatedAt.After(idActive.ActivatedAt)) {
				idActive = &stored[i]
			}
			continue
		}
		r.verify[k.KID] = pub
		r.States[k.State]++
		if k.State == store.KeyActive && (active == nil || k.ActivatedAt.After(active.ActivatedAt)) {
			active = &stored[i]
		}
	}
	if active == nil {
		if m.schedule {
			return nil, errors.New("no active signing key")
		}
		return r.finish()
	}
	r.ActiveSince = active.ActivatedAt
	if r.Signer, err = m.open(*active); err != nil {
		return nil, err
	}
	switch {
	case idActive != nil:
		if r.IDSigner, err = m.open(*idActive); err != nil {
			return nil, err
		}
	case r.Signer.Alg == jose.RS256:
		r.IDSigner = r.Signer
	}
	return r.finish()
}

// open decrypts a stored key's private half.
func (m *Manager) open(k store.SigningKey) (jose.PrivateKey, error) {
	der, err := m.master.Open(k.PrivateSealed, sealAD(k.KID))
	if err != nil {
		return jose.PrivateKey{}, fmt.Errorf("decrypt signing key %s (is its master key configured, as primary or previous?): %w", k.KID, err)
	}
	priv, err := jose.UnmarshalPrivate(k.Alg, k.KID, der)
	if err != nil {
		return jose.PrivateKey{}, fmt.Errorf("signing key %s: %w", k.KID, err)
	}
	return priv, nil
}

// finish encodes the JWKS and its ETag.
func (r *Ring) finish() (*Ring, error) {
	var err error
	r.JWKSJSON, err = jose.MarshalJWKS(r.Published)
	if err != nil {
		return nil, fmt.Errorf("encode JWKS: %w", err)
	}
	sum := sha256.Sum256(r.JWKSJSON)
	r.ETag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return r, nil
}
