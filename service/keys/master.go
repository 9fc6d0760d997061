package keys

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/store"
)

// MasterKeys seal with the primary master key and open with the primary or
// any previous one. Listing the old key as previous on every replica before
// `gatehouse keys rewrap` makes a master-key rotation need no downtime.
type MasterKeys struct {
	Primary  *secrets.MasterKey
	Previous []*secrets.MasterKey
}

// Seal seals under the primary key.
func (m *MasterKeys) Seal(plain, ad []byte) ([]byte, error) { return m.Primary.Seal(plain, ad) }

// Open opens a value sealed under any of the keys.
func (m *MasterKeys) Open(sealed, ad []byte) ([]byte, error) {
	var errs []error
	for _, k := range append([]*secrets.MasterKey{m.Primary}, m.Previous...) {
		plain, err := k.Open(sealed, ad)
		if err == nil {
			return plain, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// hashKeySetting names the sealed key that client-secret and refresh-token
// hashes are keyed with.
const hashKeySetting = "token-hash-key"

// SettingAD is the associated data a sealed setting is bound to, so that
// sealed values cannot be swapped between settings.
func SettingAD(name string) []byte { return []byte("gatehouse setting:" + name) }

// HashKey returns the key for hashing client secrets and refresh tokens,
// kept sealed in the database so that it outlives master-key rotations. On
// first use it is created as the value earlier versions derived from the
// master key, so existing hashes stay valid.
func HashKey(ctx context.Context, st *store.Store, m *MasterKeys) ([]byte, error) {
	for range 2 {
		sealed, err := st.Setting(ctx, hashKeySetting)
		if err == nil {
			key, err := m.Open(sealed, SettingAD(hashKeySetting))
			if err != nil {
				return nil, fmt.Errorf("open the token hash key (is its master key configured?): %w", err)
			}
			return key, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		sealed, err = m.Seal(m.Primary.Derive("client-secret-hash"), SettingAD(hashKeySetting))
		if err != nil {
			return nil, err
		}
		if err := st.CreateSetting(ctx, hashKeySetting, sealed); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		// Created, or another replica won the race: read what is stored.
	}
	return nil, errors.New("the token hash key could not be created")
}
