package store

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/setting"
)

// Setting returns the value of a named setting, or ErrNotFound.
func (s *Store) Setting(ctx context.Context, name string) ([]byte, error) {
	e, err := s.client.Setting.Query().Where(setting.Name(name)).Only(ctx)
	if err != nil {
		return nil, fmt.Errorf("read setting %s: %w", name, mapErr(err))
	}
	return e.Value, nil
}

// CreateSetting stores a setting unless it exists (ErrConflict then: a
// replica that lost the race reads the winner's value).
func (s *Store) CreateSetting(ctx context.Context, name string, value []byte) error {
	if err := s.client.Setting.Create().SetName(name).SetValue(value).SetUpdatedAt(s.clock()).Exec(ctx); err != nil {
		return fmt.Errorf("create setting %s: %w", name, mapErr(err))
	}
	return nil
}

// txSetting reads a setting inside a transaction; nil when it does not exist.
func txSetting(ctx context.Context, tx *ent.Tx, name string) ([]byte, error) {
	e, err := tx.Setting.Query().Where(setting.Name(name)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read setting %s: %w", name, mapErr(err))
	}
	return e.Value, nil
}

// txPutSetting creates or replaces a setting inside a transaction.
func (s *Store) txPutSetting(ctx context.Context, tx *ent.Tx, name string, value []byte, exists bool) error {
	var err error
	if exists {
		_, err = tx.Setting.Update().Where(setting.Name(name)).SetValue(value).SetUpdatedAt(s.clock()).Save(ctx)
	} else {
		err = tx.Setting.Create().SetName(name).SetValue(value).SetUpdatedAt(s.clock()).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("write setting %s: %w", name, mapErr(err))
	}
	return nil
}

// Rewrap re-encrypts, in one transaction under the key lock, every sealed
// private key and every setting with reseal, which opens a value sealed
// under any known master key and seals it under the current one.
func (s *Store) Rewrap(ctx context.Context, resealKey func(kid string, sealed []byte) ([]byte, error), resealSetting func(name string, sealed []byte) ([]byte, error)) (keys, settings int, err error) {
	err = s.ChangeKeys(ctx, func(all []SigningKey) (KeyChanges, error) {
		var c KeyChanges
		for _, k := range all {
			sealed, err := resealKey(k.KID, k.PrivateSealed)
			if err != nil {
				return KeyChanges{}, err
			}
			k.PrivateSealed = sealed
			c.Update = append(c.Update, k)
		}
		keys = len(c.Update)
		return c, nil
	})
	if err != nil {
		return 0, 0, err
	}
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		// Under the key lock: the key policy setting changes under it too.
		if err := s.lockKeys(ctx, tx); err != nil {
			return err
		}
		es, err := tx.Setting.Query().All(ctx)
		if err != nil {
			return fmt.Errorf("read settings: %w", mapErr(err))
		}
		for _, e := range es {
			v, err := resealSetting(e.Name, e.Value)
			if err != nil {
				return err
			}
			if err := tx.Setting.UpdateOne(e).SetValue(v).SetUpdatedAt(s.clock()).Exec(ctx); err != nil {
				return fmt.Errorf("update setting %s: %w", e.Name, mapErr(err))
			}
		}
		settings = len(es)
		return nil
	})
	return keys, settings, err
}

// PutSetting creates or replaces a setting. It takes the key lock, under
// which Rewrap reseals every setting, so that neither loses the other's write.
func (s *Store) PutSetting(ctx context.Context, name string, value []byte) error {
	return s.inTx(ctx, func(tx *ent.Tx) error {
		if err := s.lockKeys(ctx, tx); err != nil {
			return err
		}
		old, err := txSetting(ctx, tx, name)
		if err != nil {
			return err
		}
		return s.txPutSetting(ctx, tx, name, value, old != nil)
	})
}
