package store

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

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

// KeyPurposeIDToken marks the RS256 keys that sign OIDC ID tokens when
// access tokens use another algorithm.
const KeyPurposeIDToken = "id_token"

// SigningKey is a stored token signing key. PrivateSealed is the private key
// encrypted under the master key; the store never sees it in the clear.
type SigningKey struct {
	KID string
	Alg string
	// Purpose is what the key signs: "" access tokens, KeyPurposeIDToken
	// OIDC ID tokens.
	Purpose       string
	State         KeyState
	PublicJWK     []byte
	PrivateSealed []byte
	CreatedAt     time.Time
	ActivatedAt   time.Time // zero when not set
	RetiredAt     time.Time // zero when not set
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
		Purpose:       e.Purpose,
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

// KeyChanges is what one key-lifecycle step writes.
type KeyChanges struct {
	Create []SigningKey
	// Update writes State, ActivatedAt, RetiredAt and PrivateSealed of
	// existing keys (matched by KID).
	Update []SigningKey
	Delete []string // kids
}

func (c KeyChanges) empty() bool { return len(c.Create)+len(c.Update)+len(c.Delete) == 0 }

// keyLockID is the PostgreSQL advisory lock key serialising key changes.
const keyLockID = 0x67682d6b657973 // "gh-keys"

// ChangeKeys runs plan on every stored key (all states, oldest first) while
// holding a lock that serialises key changes across all replicas, and writes
// what plan returns in the same transaction, logging each changed kid for
// the replicas' views. Two replicas rotating at the same moment thus see each
// other's result instead of both creating a key. On SQLite the write
// transaction itself is the lock (BEGIN IMMEDIATE).
func (s *Store) ChangeKeys(ctx context.Context, plan func(keys []SigningKey) (KeyChanges, error)) error {
	return s.ChangeKeysWith(ctx, "", func(keys []SigningKey, _ []byte) (KeyChanges, []byte, error) {
		c, err := plan(keys)
		return c, nil, err
	})
}

// ChangeKeysWith is ChangeKeys that also hands plan the value of the named
// setting (nil when it does not exist, or when setting is "") read under the
// same lock, and stores the value plan returns unless that is nil. The key
// policy lives in such a setting, so that a lifecycle step and a policy
// change never interleave.
func (s *Store) ChangeKeysWith(ctx context.Context, setting string, plan func(keys []SigningKey, value []byte) (KeyChanges, []byte, error)) error {
	// Every change is audited in its transaction; the actor is the
	// context's origin (store.WithAuditOrigin), else "system".
	ctx = ensureAudit(ctx)
	return s.inTx(ctx, func(tx *ent.Tx) error {
		if err := s.lockKeys(ctx, tx); err != nil {
			return err
		}
		es, err := tx.SigningKey.Query().
			Order(ent.Asc(signingkey.FieldCreatedAt), ent.Asc(signingkey.FieldKid)).
			All(ctx)
		if err != nil {
			return fmt.Errorf("load signing keys: %w", mapErr(err))
		}
		keys := make([]SigningKey, len(es))
		for i, e := range es {
			keys[i] = toSigningKey(e)
		}
		var value []byte
		if setting != "" {
			if value, err = txSetting(ctx, tx, setting); err != nil {
				return err
			}
		}
		changes, newValue, err := plan(keys, value)
		if err != nil {
			return err
		}
		if newValue != nil {
			if err := s.txPutSetting(ctx, tx, setting, newValue, value != nil); err != nil {
				return err
			}
		}
		AddAudit(ctx, keyAuditEvents(keys, changes, setting, newValue != nil, value == nil)...)
		if changes.empty() {
			return nil
		}
		now := s.clock()
		for _, k := range changes.Create {
			c := tx.SigningKey.Create().
				SetKid(k.KID).
				SetAlg(k.Alg).
				SetPurpose(k.Purpose).
				SetState(signingkey.State(k.State)).
				SetPublicJwk(k.PublicJWK).
				SetPrivateSealed(k.PrivateSealed).
				SetCreatedAt(now).
				SetNillableActivatedAt(nonZeroTime(k.ActivatedAt)).
				SetNillableRetiredAt(nonZeroTime(k.RetiredAt))
			if _, err := c.Save(ctx); err != nil {
				return fmt.Errorf("insert signing key: %w", mapErr(err))
			}
			if err := s.appendChange(ctx, tx, ChangeKey, k.KID); err != nil {
				return err
			}
		}
		for _, k := range changes.Update {
			n, err := tx.SigningKey.Update().
				Where(signingkey.Kid(k.KID)).
				SetState(signingkey.State(k.State)).
				SetPrivateSealed(k.PrivateSealed).
				SetNillableActivatedAt(nonZeroTime(k.ActivatedAt)).
				SetNillableRetiredAt(nonZeroTime(k.RetiredAt)).
				Save(ctx)
			if err != nil {
				return fmt.Errorf("update signing key: %w", mapErr(err))
			}
			if n == 0 {
				return fmt.Errorf("update signing key %s: %w", k.KID, ErrNotFound)
			}
			if err := s.appendChange(ctx, tx, ChangeKey, k.KID); err != nil {
				return err
			}
		}
		for _, kid := range changes.Delete {
			if _, err := tx.SigningKey.Delete().Where(signingkey.Kid(kid)).Exec(ctx); err != nil {
				return fmt.Errorf("delete signing key: %w", mapErr(err))
			}
			if err := s.appendChange(ctx, tx, ChangeKey, kid); err != nil {
				return err
			}
		}
		return nil
	})
}

// lockKeys takes the lock that serialises key changes across replicas. On
// SQLite the write transaction itself is the lock (BEGIN IMMEDIATE).
func (s *Store) lockKeys(ctx context.Context, tx *ent.Tx) error {
	if s.dialect != dialect.Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", keyLockID); err != nil {
		return fmt.Errorf("take key lock: %w", err)
	}
	return nil
}

// keyAuditEvents describes a key-lifecycle step for the audit trail.
func keyAuditEvents(before []SigningKey, c KeyChanges, setting string, settingWritten, settingCreated bool) []AuditEvent {
	var out []AuditEvent
	if settingWritten {
		out = append(out, AuditEvent{Type: AuditKeyPolicyChanged, Target: setting,
			Detail: map[string]string{"created": fmt.Sprint(settingCreated)}})
	}
	for _, k := range c.Create {
		out = append(out, AuditEvent{Type: AuditKeyCreated, Target: k.KID,
			Detail: map[string]string{"alg": k.Alg, "state": string(k.State)}})
	}
	state := make(map[string]KeyState, len(before))
	for _, k := range before {
		state[k.KID] = k.State
	}
	for _, k := range c.Update {
		typ := ""
		switch {
		case k.State == state[k.KID]:
			continue // resealed, not a lifecycle step
		case k.State == KeyActive:
			typ = AuditKeyActivated
		case k.State == KeyRetired:
			typ = AuditKeyRetired
		case k.State == KeyRevoked:
			typ = AuditKeyRevoked
		default:
			typ = AuditKeyUpdated
		}
		out = append(out, AuditEvent{Type: typ, Target: k.KID, Detail: map[string]string{"alg": k.Alg, "from": string(state[k.KID]), "state": string(k.State)}})
	}
	for _, kid := range c.Delete {
		out = append(out, AuditEvent{Type: AuditKeyRemoved, Target: kid, Detail: map[string]string{"from": string(state[kid])}})
	}
	return out
}

func nonZeroTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
