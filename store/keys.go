package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/signingkey"
)

// KeyState is a signing key's place in its lifecycle.
type KeyState string

const (
	KeyNext    KeyState = "next"
	KeyActive  KeyState = "active"
	KeyRetired KeyState = "retired"
	KeyRevoked KeyState = "revoked"
)

// SigningKey is a stored token signing key. PrivateSealed is the private key
// encrypted under the master key; the store never sees it in the clear.
type SigningKey struct {
	KID           string
	Alg           string
	State         KeyState
	PublicJWK     []byte
	PrivateSealed []byte
	CreatedAt     time.Time
	ActivatedAt   time.Time // zero when not set
	RetiredAt     time.Time // zero when not set
}

// CreateSigningKey inserts a key.
func (s *Store) CreateSigningKey(ctx context.Context, k SigningKey) (SigningKey, error) {
	k.CreatedAt = s.clock()
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.SigningKey.Create().
			SetKid(k.KID).
			SetAlg(k.Alg).
			SetState(signingkey.State(k.State)).
			SetPublicJwk(k.PublicJWK).
			SetPrivateSealed(k.PrivateSealed).
			SetCreatedAt(k.CreatedAt)
		if !k.ActivatedAt.IsZero() {
			c.SetActivatedAt(k.ActivatedAt)
		}
		if !k.RetiredAt.IsZero() {
			c.SetRetiredAt(k.RetiredAt)
		}
		if _, err := c.Save(ctx); err != nil {
			return fmt.Errorf("insert signing key: %w", mapErr(err))
		}
		return s.appendChange(ctx, tx, ChangeKey, k.KID)
	})
	return k, err
}

// SigningKeys returns every stored key that is not revoked, oldest first.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	es, err := s.client.SigningKey.Query().
		Where(signingkey.StateNEQ(signingkey.StateRevoked)).
		Order(ent.Asc(signingkey.FieldCreatedAt), ent.Asc(signingkey.FieldKid)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", mapErr(err))
	}
	out := make([]SigningKey, len(es))
	for i, e := range es {
		out[i] = toSigningKey(e)
	}
	return out, nil
}

func toSigningKey(e *ent.SigningKey) SigningKey {
	k := SigningKey{
		KID:           e.Kid,
		Alg:           e.Alg,
		State:         KeyState(e.State),
		PublicJWK:     e.PublicJwk,
		PrivateSealed: e.PrivateSealed,
		CreatedAt:     e.CreatedAt.UTC(),
	}
	if e.ActivatedAt != nil {
		k.ActivatedAt = e.ActivatedAt.UTC()
	}
	if e.RetiredAt != nil {
		k.RetiredAt = e.RetiredAt.UTC()
	}
	return k
}
