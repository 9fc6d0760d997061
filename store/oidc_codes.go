package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/authorizationcode"
)

// ErrCodeReused: the authorization code was redeemed before.
var ErrCodeReused = errors.New("authorization code was already used")

// AuthorizationCode is a stored authorization code (only its keyed hash).
type AuthorizationCode struct {
	ID            string
	CodeHash      []byte
	ClientID      string
	AccountID     string
	RedirectURI   string
	Scope         string
	Nonce         string
	CodeChallenge string
	SessionID     string
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time // zero while unused
	IssuedFamily  string
}

// CreateAuthorizationCode stores a new code.
func (s *Store) CreateAuthorizationCode(ctx context.Context, c AuthorizationCode) error {
	_, err := s.client.AuthorizationCode.Create().
		SetID(c.ID).
		SetCodeHash(c.CodeHash).
		SetClientID(c.ClientID).
		SetAccountID(c.AccountID).
		SetRedirectURI(c.RedirectURI).
		SetScope(c.Scope).
		SetNonce(c.Nonce).
		SetCodeChallenge(c.CodeChallenge).
		SetSessionID(c.SessionID).
		SetAuthTime(c.AuthTime).
		SetCreatedAt(c.CreatedAt).
		SetExpiresAt(c.ExpiresAt).
		Save(ctx)
	if err != nil {
		return fmt.Errorf("create authorization code: %w", mapErr(err))
	}
	return nil
}

// RedeemAuthorizationCode marks the code with hash used at now and returns
// it. A code used before comes back with ErrCodeReused (the caller revokes
// what it issued); an unknown one is ErrNotFound. The row lock makes two
// concurrent redemptions see each other.
func (s *Store) RedeemAuthorizationCode(ctx context.Context, hash []byte, now time.Time) (AuthorizationCode, error) {
	var out AuthorizationCode
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		q := tx.AuthorizationCode.Query().Where(authorizationcode.CodeHash(hash))
		if s.dialect == dialect.Postgres {
			q = q.ForUpdate()
		}
		e, err := q.Only(ctx)
		if err != nil {
			return fmt.Errorf("get authorization code: %w", mapErr(err))
		}
		out = toAuthorizationCode(e)
		if e.UsedAt != nil {
			return ErrCodeReused
		}
		if err := tx.AuthorizationCode.UpdateOneID(e.ID).SetUsedAt(now).Exec(ctx); err != nil {
			return fmt.Errorf("use authorization code: %w", mapErr(err))
		}
		out.UsedAt = now
		return nil
	})
	return out, err
}

// SetCodeIssuedFamily records the session a redeemed code issued tokens in.
func (s *Store) SetCodeIssuedFamily(ctx context.Context, id, family string) error {
	if err := s.client.AuthorizationCode.UpdateOneID(id).SetIssuedFamily(family).Exec(ctx); err != nil {
		return fmt.Errorf("record authorization code session: %w", mapErr(err))
	}
	return nil
}

// PruneAuthorizationCodes deletes codes that expired before cutoff. Codes
// are kept a while after expiry so that a late replay is still recognised
// as one.
func (s *Store) PruneAuthorizationCodes(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := s.client.AuthorizationCode.Delete().Where(authorizationcode.ExpiresAtLT(cutoff)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune authorization codes: %w", mapErr(err))
	}
	return n, nil
}

func toAuthorizationCode(e *ent.AuthorizationCode) AuthorizationCode {
	c := AuthorizationCode{
		ID: e.ID, CodeHash: e.CodeHash, ClientID: e.ClientID, AccountID: e.AccountID,
		RedirectURI: e.RedirectURI, Scope: e.Scope, Nonce: e.Nonce, CodeChallenge: e.CodeChallenge,
		SessionID: e.SessionID, AuthTime: e.AuthTime.UTC(), CreatedAt: e.CreatedAt.UTC(),
		ExpiresAt: e.ExpiresAt.UTC(), IssuedFamily: e.IssuedFamily,
	}
	if e.UsedAt != nil {
		c.UsedAt = e.UsedAt.UTC()
	}
	return c
}
