package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/account"
	"github.com/gatehouse/gatehouse/store/ent/predicate"
	"github.com/gatehouse/gatehouse/store/ent/refreshtoken"
)

// Change kinds of token revocation, read by every replica's view.
const (
	ChangeRevokeFamily  = "revoke-family"  // subject: family (session) id
	ChangeRevokeJTI     = "revoke-jti"     // subject: access token jti
	ChangeRevokeSubject = "revoke-subject" // subject: account id; tokens issued up to then die
)

// Errors of refresh-token use.
var (
	// ErrTokenReused: the token was already rotated; its family is now revoked.
	ErrTokenReused = errors.New("refresh token was already used")
	// ErrTokenRevoked: the token or its family was revoked.
	ErrTokenRevoked = errors.New("refresh token was revoked")
)

// RefreshToken is a stored refresh or offline token (hash only).
type RefreshToken struct {
	ID              string
	TokenHash       []byte
	FamilyID        string
	AccountID       string
	ClientID        string
	Scope           string
	Offline         bool
	CreatedAt       time.Time
	FamilyCreatedAt time.Time
	LastUsedAt      time.Time
	ExpiresAt       time.Time // zero: no absolute expiry
	RotatedAt       time.Time // zero: not rotated
	RevokedAt       time.Time // zero: not revoked
}

// CreateRefreshToken stores a new token (the first of a family, or a
// successor written by RotateRefreshToken).
func (s *Store) CreateRefreshToken(ctx context.Context, t RefreshToken) (RefreshToken, error) {
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		var err error
		t, err = createRefreshToken(ctx, tx, t)
		return err
	})
	return t, err
}

func createRefreshToken(ctx context.Context, tx *ent.Tx, t RefreshToken) (RefreshToken, error) {
	c := tx.RefreshToken.Create().
		SetID(t.ID).
		SetTokenHash(t.TokenHash).
		SetFamilyID(t.FamilyID).
		SetAccountID(t.AccountID).
		SetClientID(t.ClientID).
		SetScope(t.Scope).
		SetOffline(t.Offline).
		SetCreatedAt(t.CreatedAt).
		SetFamilyCreatedAt(t.FamilyCreatedAt).
		SetLastUsedAt(t.LastUsedAt)
	if !t.ExpiresAt.IsZero() {
		c.SetExpiresAt(t.ExpiresAt)
	}
	if _, err := c.Save(ctx); err != nil {
		return RefreshToken{}, fmt.Errorf("insert refresh token: %w", mapErr(err))
	}
	return t, nil
}

// RefreshTokenByHash returns the token with the given hash.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (RefreshToken, error) {
	e, err := s.client.RefreshToken.Query().Where(refreshtoken.TokenHash(hash)).Only(ctx)
	if err != nil {
		return RefreshToken{}, fmt.Errorf("get refresh token: %w", mapErr(err))
	}
	return toRefreshToken(e), nil
}

// RotateRefreshToken is RotateRefreshTokenGrace without a reuse grace:
// every second use of a rotated token is a replay.
func (s *Store) RotateRefreshToken(ctx context.Context, hash []byte, now time.Time, check func(old RefreshToken) error, next func(old RefreshToken) RefreshToken) (RefreshToken, error) {
	t, _, err := s.RotateRefreshTokenGrace(ctx, hash, now, 0, check, next)
	return t, err
}

// RotateRefreshTokenGrace exchanges the token with the given hash for a
// successor, atomically: the row is locked, checked, marked rotated, and
// next(old) is inserted. Of many concurrent calls with one token exactly one
// inserts the successor.
//
// A token already rotated is a replay: the whole family is revoked (and the
// revocation logged for the replicas) and ErrTokenReused returned, unless
// the replay is a retry within grace of the rotation (a client that never
// got the answer): then, if the successor next(old) computes is still in the
// family, unused and not revoked, that successor is returned with retry set
// and nothing is written. For this next must compute the same TokenHash
// every time for the same old token; the successor row is found by it. A
// successor that was already rotated means two parties hold the token, so
// the family is revoked however soon the replay comes.
//
// check may refuse the token to be handed out (the old one, or on a retry
// the successor) without changing anything. Offline tokens never rotate.
func (s *Store) RotateRefreshTokenGrace(ctx context.Context, hash []byte, now time.Time, grace time.Duration, check func(old RefreshToken) error, next func(old RefreshToken) RefreshToken) (out RefreshToken, retry bool, err error) {
	var reused bool
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		old, err := lockRefreshToken(ctx, tx, s.dialect, hash)
		if err != nil {
			return err
		}
		switch {
		case !old.RevokedAt.IsZero():
			return ErrTokenRevoked
		case !old.RotatedAt.IsZero():
			succ, ok, err := graceSuccessor(ctx, tx, s.dialect, old, now, grace, next)
			if err != nil {
				return err
			}
			if ok {
				if err := check(succ); err != nil {
					return err
				}
				out, retry = succ, true
				return nil
			}
			reused = true
			return s.revokeFamilies(ctx, tx, now, old.FamilyID)
		}
		if err := check(old); err != nil {
			return err
		}
		if !old.Offline {
			if err := tx.RefreshToken.UpdateOneID(old.ID).SetRotatedAt(now).SetLastUsedAt(now).Exec(ctx); err != nil {
				return fmt.Errorf("mark refresh token used: %w", mapErr(err))
			}
		}
		out, err = createRefreshToken(ctx, tx, next(old))
		return err
	})
	switch {
	case err != nil:
		return RefreshToken{}, false, err
	case reused:
		return RefreshToken{}, false, ErrTokenReused
	}
	return out, retry, nil
}

// errNotLive ends the transaction of a live rotation that found its token
// no longer live.
var errNotLive = errors.New("refresh token is no longer live")

// RotateLiveRefreshToken is the fast path of RotateRefreshTokenGrace for a
// token the caller has just read and found current: it marks old rotated
// and inserts next (the successor RotateRefreshTokenGrace's next would
// make) at once, provided old is still live: not rotated, not revoked, not
// offline, and its account exists and is active. Otherwise it writes
// nothing and reports false; the caller then runs RotateRefreshTokenGrace,
// which decides as always (replay, retry within the grace, revoked token).
// Of many concurrent calls with one token exactly one reports true.
//
// The caller checks the client and the lifetime (absolute expiry, idle
// time since last_used_at) on the row it read, before this call. That
// stays right at the write: client_id and expires_at are immutable, and
// last_used_at of a rotating (not offline) token changes only together
// with rotated_at (TouchRefreshToken is for offline tokens), which the
// write requires to be still unset.
//
// The account is checked in the write as well, so that a caller may take
// the account from a cache: an account disabled or deleted meanwhile makes
// this report false, and the caller reads it afresh.
//
// A ctx carrying audit events (WithAudit) gets false at once, so that
// RotateRefreshTokenGrace writes them with the rotation.
func (s *Store) RotateLiveRefreshToken(ctx context.Context, old, next RefreshToken, now time.Time) (bool, error) {
	if old.Offline || next.Offline || hasPendingAudit(ctx) {
		return false, nil
	}
	if s.dialect == dialect.Postgres {
		return s.rotateLivePostgres(ctx, old, next, now)
	}
	// SQLite has no data-modifying WITH; its transactions are in-process
	// and serialised by its single connection, so a conditional UPDATE and
	// the INSERT in one transaction cost little (and no row lock is needed).
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		n, err := tx.RefreshToken.Update().
			Where(
				refreshtoken.ID(old.ID),
				refreshtoken.TokenHash(old.TokenHash),
				refreshtoken.FamilyID(next.FamilyID),
				refreshtoken.AccountID(next.AccountID),
				refreshtoken.RotatedAtIsNil(),
				refreshtoken.RevokedAtIsNil(),
				refreshtoken.Offline(false),
				accountActive(),
			).
			SetRotatedAt(now).
			SetLastUsedAt(now).
			Save(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("mark refresh token used: %w", mapErr(err))
		case n == 0:
			return errNotLive
		}
		_, err = createRefreshToken(ctx, tx, next)
		return err
	})
	switch {
	case errors.Is(err, errNotLive):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// rotateLiveSQL is RotateLiveRefreshToken on PostgreSQL in one statement,
// so one round trip and no explicit transaction: the UPDATE takes the row
// lock, and concurrent callers with the same token wait for it and then,
// re-checking rotated_at IS NULL on the committed row (READ COMMITTED),
// update nothing, so that their INSERT has no row to insert.
//
// Parameters: $1 id, $2 token_hash of the old token; $3 now; then the
// successor: $4 id, $5 token_hash, $6 family_id, $7 account_id, $8
// client_id, $9 scope, $10 created_at, $11 family_created_at, $12
// last_used_at, $13 expires_at (NULL: none). The casts type the parameters
// of the SELECT list, which PostgreSQL would otherwise take as text.
//
// Prepared statements: store.Open hands the DSN to pgx's database/sql
// driver as it is, whose default query mode is QueryExecModeCacheStatement
// (statement_cache_capacity 512), so this statement is parsed once per
// pooled connection and then only bound and executed, unless an operator
// sets default_query_exec_mode in the DSN (e.g. for PgBouncer).
const rotateLiveSQL = `WITH old AS (
	UPDATE refresh_tokens SET rotated_at = $3, last_used_at = $3
	WHERE id = $1 AND token_hash = $2 AND family_id = $6 AND account_id = $7
		AND rotated_at IS NULL AND revoked_at IS NULL AND NOT offline
		AND EXISTS (SELECT 1 FROM accounts WHERE accounts.id = refresh_tokens.account_id AND accounts.active)
	RETURNING 1
)
INSERT INTO refresh_tokens (id, token_hash, family_id, account_id, client_id, scope, offline,
	created_at, family_created_at, last_used_at, expires_at)
SELECT $4::varchar, $5::bytea, $6::varchar, $7::varchar, $8::varchar, $9::varchar, false,
	$10::timestamptz, $11::timestamptz, $12::timestamptz, $13::timestamptz
FROM old`

func (s *Store) rotateLivePostgres(ctx context.Context, old, next RefreshToken, now time.Time) (bool, error) {
	var expires any // NULL
	if !next.ExpiresAt.IsZero() {
		expires = next.ExpiresAt
	}
	// The client's ExecContext goes through the store's driver: bounded by
	// the operation timeout, its errors classified, traced as db.exec.
	res, err := s.client.ExecContext(ctx, rotateLiveSQL,
		old.ID, old.TokenHash, now,
		next.ID, next.TokenHash, next.FamilyID, next.AccountID, next.ClientID, next.Scope,
		next.CreatedAt, next.FamilyCreatedAt, next.LastUsedAt, expires)
	if err != nil {
		return false, fmt.Errorf("rotate refresh token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("rotate refresh token: %w", err)
	}
	return n == 1, nil
}

// accountActive holds for a token whose account exists and is active.
func accountActive() predicate.RefreshToken {
	return func(s *entsql.Selector) {
		a := entsql.Table(account.Table)
		s.Where(entsql.Exists(entsql.Dialect(s.Dialect()).
			Select(a.C(account.FieldID)).
			From(a).
			Where(entsql.And(
				entsql.ColumnsEQ(a.C(account.FieldID), s.C(refreshtoken.FieldAccountID)),
				entsql.EQ(a.C(account.FieldActive), true),
			))))
	}
}

// lockRefreshToken reads the token with the given hash, locking its row
// until the transaction ends (SQLite's immediate transactions lock the
// whole database already).
func lockRefreshToken(ctx context.Context, tx *ent.Tx, dia string, hash []byte) (RefreshToken, error) {
	q := tx.RefreshToken.Query().Where(refreshtoken.TokenHash(hash))
	if dia == dialect.Postgres {
		q = q.ForUpdate()
	}
	e, err := q.Only(ctx)
	if err != nil {
		return RefreshToken{}, fmt.Errorf("get refresh token: %w", mapErr(err))
	}
	return toRefreshToken(e), nil
}

// graceSuccessor returns the successor of the rotated token old if a replay
// at now is a retry within grace: the successor next(old) names exists in
// the same family and has been neither rotated nor revoked.
func graceSuccessor(ctx context.Context, tx *ent.Tx, dia string, old RefreshToken, now time.Time, grace time.Duration, next func(RefreshToken) RefreshToken) (RefreshToken, bool, error) {
	// A replica whose clock is slightly behind the one that rotated sees a
	// negative age; it is bounded by the grace too.
	if age := now.Sub(old.RotatedAt); grace <= 0 || old.Offline || age > grace || age < -grace {
		return RefreshToken{}, false, nil
	}
	succ, err := lockRefreshToken(ctx, tx, dia, next(old).TokenHash)
	if errors.Is(err, ErrNotFound) {
		return RefreshToken{}, false, nil // not a successor this server made
	}
	if err != nil {
		return RefreshToken{}, false, fmt.Errorf("get successor: %w", err)
	}
	if succ.FamilyID != old.FamilyID || !succ.RotatedAt.IsZero() || !succ.RevokedAt.IsZero() {
		return RefreshToken{}, false, nil
	}
	return succ, true, nil
}

// TouchRefreshToken records a use of a token that does not rotate (offline).
func (s *Store) TouchRefreshToken(ctx context.Context, id string, now time.Time) error {
	if err := s.client.RefreshToken.UpdateOneID(id).SetLastUsedAt(now).Exec(ctx); err != nil {
		return fmt.Errorf("record token use: %w", mapErr(err))
	}
	return nil
}

// RevokeFamily revokes every token of a family and logs it for the replicas.
func (s *Store) RevokeFamily(ctx context.Context, familyID string, now time.Time) error {
	return s.inTx(ctx, func(tx *ent.Tx) error { return s.revokeFamilies(ctx, tx, now, familyID) })
}

func (s *Store) revokeFamilies(ctx context.Context, tx *ent.Tx, now time.Time, families ...string) error {
	if len(families) == 0 {
		return nil
	}
	if _, err := tx.RefreshToken.Update().
		Where(refreshtoken.FamilyIDIn(families...), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).
		Save(ctx); err != nil {
		return fmt.Errorf("revoke token family: %w", mapErr(err))
	}
	for _, f := range families {
		if err := s.appendChange(ctx, tx, ChangeRevokeFamily, f); err != nil {
			return err
		}
	}
	return nil
}

// RevokeAccountTokens revokes every refresh and offline token of an account
// and logs that its access tokens issued up to now are invalid. It returns
// how many sessions were live.
func (s *Store) RevokeAccountTokens(ctx context.Context, accountID string, now time.Time) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		families, err := tx.RefreshToken.Query().
			Where(
				refreshtoken.AccountID(accountID),
				refreshtoken.RevokedAtIsNil(),
				refreshtoken.RotatedAtIsNil(),
				refreshtoken.Or(refreshtoken.ExpiresAtIsNil(), refreshtoken.ExpiresAtGT(now)),
			).
			Unique(true).
			Select(refreshtoken.FieldFamilyID).
			Strings(ctx)
		if err != nil {
			return fmt.Errorf("find sessions: %w", mapErr(err))
		}
		n = len(families)
		if _, err := tx.RefreshToken.Update().
			Where(refreshtoken.AccountID(accountID), refreshtoken.RevokedAtIsNil()).
			SetRevokedAt(now).
			Save(ctx); err != nil {
			return fmt.Errorf("revoke tokens: %w", mapErr(err))
		}
		return s.appendChange(ctx, tx, ChangeRevokeSubject, accountID)
	})
	return n, err
}

// RevokeAccessToken logs the revocation of one access token by its jti.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string) error {
	return s.inTx(ctx, func(tx *ent.Tx) error { return s.appendChange(ctx, tx, ChangeRevokeJTI, jti) })
}

// LiveSessions returns the current (not rotated, not revoked) token of each
// session of an account that has not expired by now, newest first.
func (s *Store) LiveSessions(ctx context.Context, accountID string, now time.Time) ([]RefreshToken, error) {
	es, err := s.client.RefreshToken.Query().
		Where(
			refreshtoken.AccountID(accountID),
			refreshtoken.RevokedAtIsNil(),
			refreshtoken.RotatedAtIsNil(),
			refreshtoken.Or(refreshtoken.ExpiresAtIsNil(), refreshtoken.ExpiresAtGT(now)),
		).
		Order(ent.Desc(refreshtoken.FieldFamilyCreatedAt)).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", mapErr(err))
	}
	out := make([]RefreshToken, len(es))
	for i, e := range es {
		out[i] = toRefreshToken(e)
	}
	return out, nil
}

// SessionOwner returns the account of a session (family), for authorising
// and logging a revocation.
func (s *Store) SessionOwner(ctx context.Context, familyID string) (string, error) {
	e, err := s.client.RefreshToken.Query().Where(refreshtoken.FamilyID(familyID)).First(ctx)
	if err != nil {
		return "", fmt.Errorf("get session: %w", mapErr(err))
	}
	return e.AccountID, nil
}

// PruneRefreshTokens deletes rows that can never be used again: revoked or
// expired before cutoff. Rotated rows stay while their family lives, so that
// a replay is still recognised.
func (s *Store) PruneRefreshTokens(ctx context.Context, cutoff time.Time) (int, error) {
	n, err := s.client.RefreshToken.Delete().Where(refreshtoken.Or(
		refreshtoken.RevokedAtLT(cutoff),
		refreshtoken.ExpiresAtLT(cutoff),
	)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune refresh tokens: %w", mapErr(err))
	}
	return n, nil
}

func toRefreshToken(e *ent.RefreshToken) RefreshToken {
	t := RefreshToken{
		ID:              e.ID,
		TokenHash:       e.TokenHash,
		FamilyID:        e.FamilyID,
		AccountID:       e.AccountID,
		ClientID:        e.ClientID,
		Scope:           e.Scope,
		Offline:         e.Offline,
		CreatedAt:       e.CreatedAt.UTC(),
		FamilyCreatedAt: e.FamilyCreatedAt.UTC(),
		LastUsedAt:      e.LastUsedAt.UTC(),
	}
	if e.ExpiresAt != nil {
		t.ExpiresAt = e.ExpiresAt.UTC()
	}
	if e.RotatedAt != nil {
		t.RotatedAt = e.RotatedAt.UTC()
	}
	if e.RevokedAt != nil {
		t.RevokedAt = e.RevokedAt.UTC()
	}
	return t
}
