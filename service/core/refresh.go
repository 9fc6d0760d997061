package core

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/view"
	"github.com/gatehouse/gatehouse/store"
)

// Opaque token prefixes: recognisable by secret scanners, and telling the
// two kinds apart without a database read.
const (
	RefreshTokenPrefix = "ghr_"
	OfflineTokenPrefix = "gho_"
	// ScopeOfflineAccess asks for an offline token (OIDC Core §11).
	ScopeOfflineAccess = "offline_access"
	// GrantRefreshToken is RFC 6749 §6.
	GrantRefreshToken = "refresh_token"
)

// opaqueTokenLen is prefix + 43 base64url characters (256 bits).
const opaqueTokenLen = 4 + 43

// looksOpaque reports whether tok has the shape of a gatehouse refresh or
// offline token, so that junk is refused before any database read.
func looksOpaque(tok, prefix string) bool {
	if len(tok) != opaqueTokenLen || !strings.HasPrefix(tok, prefix) {
		return false
	}
	for i := len(prefix); i < len(tok); i++ {
		c := tok[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var errBadRefresh = errs.New(errs.Unauthenticated, "the refresh token is invalid, expired or revoked").WithOAuth("invalid_grant")

// newSession starts a login session: a rotating refresh token, or an offline
// token when the scopes include offline_access.
func (s *Service) newSession(ctx context.Context, acct store.Account, clientID string, scopes []string) (token, familyID string, err error) {
	offline := slices.Contains(scopes, ScopeOfflineAccess)
	prefix := RefreshTokenPrefix
	if offline {
		prefix = OfflineTokenPrefix
	}
	token, err = secrets.RandomToken(prefix)
	if err != nil {
		return "", "", errs.Wrap(errs.Internal, err, "could not make a refresh token")
	}
	now := s.now().UTC()
	family := uuid.NewString()
	t := store.RefreshToken{
		ID:              uuid.NewString(),
		TokenHash:       s.secrets.Hash(token),
		FamilyID:        family,
		AccountID:       acct.ID,
		ClientID:        clientID,
		Scope:           strings.Join(scopes, " "),
		Offline:         offline,
		CreatedAt:       now,
		FamilyCreatedAt: now,
		LastUsedAt:      now,
	}
	if !offline {
		t.ExpiresAt = now.Add(s.cfg.RefreshAbsoluteTTL)
	}
	if _, err := s.store.CreateRefreshToken(ctx, t); err != nil {
		return "", "", errs.Wrap(errs.Internal, err, "could not store the refresh token")
	}
	if offline {
		s.offline.forgetUnknown(string(t.TokenHash))
	}
	return token, family, nil
}

// refreshGrant runs grant_type=refresh_token.
func (s *Service) refreshGrant(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	if req.RefreshToken == "" {
		return TokenResponse{}, errs.New(errs.InvalidArgument, "the refresh_token grant needs refresh_token").WithOAuth("invalid_request")
	}
	offline := looksOpaque(req.RefreshToken, OfflineTokenPrefix)
	if !offline && !looksOpaque(req.RefreshToken, RefreshTokenPrefix) {
		return TokenResponse{}, errBadRefresh
	}
	checkClient := func(clientID string) error { return s.checkRefreshClient(ctx, clientID, req) }
	if offline && req.Scope == "" {
		// The common case: served from the renew cache, no database.
		return s.renewOffline(ctx, req.RefreshToken, checkClient)
	}
	hash := s.secrets.Hash(req.RefreshToken)
	if offline && s.offline.isUnknown(string(hash), s.now()) {
		return TokenResponse{}, errBadRefresh
	}
	old, err := s.store.RefreshTokenByHash(ctx, hash)
	if offline && errors.Is(err, store.ErrNotFound) {
		s.offline.markUnknown(string(hash), s.now())
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && old.Offline != offline) {
		return TokenResponse{}, errBadRefresh
	}
	if err != nil {
		return TokenResponse{}, errs.Wrap(errs.Internal, err, "could not read the refresh token")
	}
	if err := checkClient(old.ClientID); err != nil {
		return TokenResponse{}, err
	}
	scopes, err := s.narrowRefreshScope(old.Scope, req.Scope)
	if err != nil {
		return TokenResponse{}, err
	}
	if offline {
		// A narrower scope is a new access token, not the cached one.
		return s.signForSession(ctx, old, splitScope(scopes))
	}
	acct, cached := s.viewSessionAccount(old.AccountID)
	if !cached {
		var err error
		if acct, err = s.sessionAccount(ctx, old); err != nil {
			return TokenResponse{}, err
		}
	}
	now := s.now().UTC()
	next, err := s.successorToken(req.RefreshToken)
	if err != nil {
		return TokenResponse{}, err
	}
	successor := func(cur store.RefreshToken) store.RefreshToken {
		cur.ID, cur.TokenHash = uuid.NewString(), s.secrets.Hash(next)
		cur.CreatedAt, cur.LastUsedAt = now, now
		return cur
	}
	// The common case, a current token, rotates in one statement. The
	// client was checked above and the lifetime is checked here, both on
	// the row just read: RotateLiveRefreshToken rotates only while that
	// row is unchanged in what they depend on, and only while the account
	// is active, so a cached account is safe to sign for.
	if old.RotatedAt.IsZero() && old.RevokedAt.IsZero() && s.checkRefreshLifetime(old, now) == nil {
		ok, err := s.store.RotateLiveRefreshToken(ctx, old, successor(old), now)
		if err != nil {
			return TokenResponse{}, errs.Wrap(errs.Internal, err, "could not rotate the refresh token")
		}
		if ok {
			return s.signRefreshed(ctx, acct, old, scopes, next)
		}
	}
	// Anything else (rotated or revoked meanwhile, a replay, a retry, an
	// expired token, an account changed since the view saw it) is decided
	// in a transaction on the locked row, with the account read afresh.
	if cached {
		if acct, err = s.sessionAccount(ctx, old); err != nil {
			return TokenResponse{}, err
		}
	}
	succ, retry, err := s.store.RotateRefreshTokenGrace(ctx, old.TokenHash, now, s.cfg.RefreshReuseGrace,
		func(cur store.RefreshToken) error { return s.checkRefreshLifetime(cur, now) },
		successor)
	switch {
	case errors.Is(err, store.ErrTokenReused):
		s.log.Warn("refresh token replayed: session revoked", "session", old.FamilyID, "account", old.AccountID)
		s.syncView(ctx)
		return TokenResponse{}, errs.New(errs.Unauthenticated, "the refresh token was already used; the session is revoked").WithOAuth("invalid_grant")
	case errors.Is(err, store.ErrTokenRevoked), errors.Is(err, store.ErrNotFound):
		return TokenResponse{}, errBadRefresh
	case err != nil:
		var e *errs.Error
		if errors.As(err, &e) {
			return TokenResponse{}, e
		}
		return TokenResponse{}, errs.Wrap(errs.Internal, err, "could not rotate the refresh token")
	case retry:
		// The successor was issued before; its hash matched the one derived
		// again from the presented token, so next is that successor.
		s.log.Info("refresh token retried within the reuse grace: same successor returned", "session", succ.FamilyID, "account", succ.AccountID)
	}
	return s.signRefreshed(ctx, acct, old, scopes, next)
}

// signRefreshed answers a rotation: an access token for the session of old
// and next, its successor.
func (s *Service) signRefreshed(ctx context.Context, acct store.Account, old store.RefreshToken, scopes, next string) (TokenResponse, error) {
	res, err := s.sign(ctx, acct, acct.ID, old.ClientID, splitScope(scopes), old.FamilyID)
	if err != nil {
		return TokenResponse{}, err
	}
	res.RefreshToken = next
	return res, nil
}

// successorPurpose names the key a successor refresh token is derived with.
const successorPurpose = "refresh-token-successor"

// successorToken returns the refresh token that replaces presented.
//
// It is not random but derived: HMAC-SHA-256 of the presented token under a
// key derived from the token hash key (the persistent, sealed key the
// stored hashes are made with; see secrets.SecretHasher.DeriveToken). So a
// client retrying a refresh whose answer was lost gets the very successor
// already stored, on any replica and after a restart, while only its hash
// is stored, like every other refresh token: nothing is kept in plain text
// or sealed for the grace window. The chain of a session remains
// unpredictable without that key, as each link is a keyed function of a
// secret first token of 256 random bits. Tokens are derived whatever the
// grace, so replicas configured differently agree on every successor.
func (s *Service) successorToken(presented string) (string, error) {
	next, err := s.secrets.DeriveToken(successorPurpose, RefreshTokenPrefix, presented)
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "could not make a refresh token")
	}
	return next, nil
}

// checkRefreshClient enforces RFC 6749 §6: a token issued to a client may be
// used only by that client, authenticated; a token of the default (public)
// client needs no client authentication.
func (s *Service) checkRefreshClient(ctx context.Context, tokenClient string, req TokenRequest) error {
	if req.ClientID != "" && req.ClientSecret == "" {
		return s.checkPublicRefreshClient(ctx, tokenClient, req) // oidc_clients.go
	}
	if req.ClientID == "" && req.ClientSecret == "" {
		if tokenClient != s.cfg.DefaultClientID {
			return errs.New(errs.Unauthenticated, "this refresh token was issued to a client; authenticate as it").WithOAuth("invalid_client")
		}
		return nil
	}
	client, err := s.authenticateClient(ctx, req.ClientID, req.ClientSecret, req.ClientIP)
	if err != nil {
		return err
	}
	if client.ClientID != tokenClient {
		return errs.New(errs.Unauthenticated, "the refresh token was issued to another client").WithOAuth("invalid_grant")
	}
	return nil
}

// narrowRefreshScope returns the scope of a refreshed token: the original
// one, or a requested subset of it (RFC 6749 §6).
func (s *Service) narrowRefreshScope(original, requested string) (string, error) {
	if requested == "" {
		return original, nil
	}
	want, err := s.parseScope(requested)
	if err != nil {
		return "", err
	}
	have := splitScope(original)
	for _, sc := range want {
		if !slices.Contains(have, sc) {
			return "", errs.New(errs.InvalidArgument, "scope %q was not granted to this refresh token", truncate(sc)).WithOAuth("invalid_scope")
		}
	}
	return strings.Join(want, " "), nil
}

// idleTTL is how long a token may go unused: the refresh or the offline
// idle timeout (0: none).
func (s *Service) idleTTL(t store.RefreshToken) time.Duration {
	if t.Offline {
		return s.cfg.OfflineIdleTTL
	}
	return s.cfg.RefreshIdleTTL
}

func (s *Service) checkRefreshLifetime(t store.RefreshToken, now time.Time) error {
	idle := s.idleTTL(t)
	if (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) || (idle > 0 && now.Sub(t.LastUsedAt) > idle) {
		return errBadRefresh
	}
	return nil
}

// viewSessionAccount returns the account of a session from the view, with
// true, when the view knows it as active; anything else (unknown to the
// view, disabled, deleted) is for sessionAccount to tell from the database.
// The view trails the database by up to a poll interval, so the caller
// must have the account's state confirmed where it writes (see
// Store.RotateLiveRefreshToken); roles and profile changed within that
// interval may still be missing from the access token, as on any replica
// whose view has not caught up.
func (s *Service) viewSessionAccount(id string) (store.Account, bool) {
	a, status := s.view.Account(id)
	if status != view.Present || !a.Active {
		return store.Account{}, false
	}
	return storeAccount(id, a), true
}

// sessionAccount returns the account of a session if it may still get tokens.
func (s *Service) sessionAccount(ctx context.Context, t store.RefreshToken) (store.Account, error) {
	acct, err := s.store.GetAccount(ctx, store.AccountKey{ID: t.AccountID})
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, errBadRefresh
	}
	if err != nil {
		return store.Account{}, errs.Wrap(errs.Internal, err, "could not read the account")
	}
	if !acct.Active {
		return store.Account{}, errs.New(errs.PermissionDenied, "the account is disabled").WithOAuth("invalid_grant")
	}
	return acct, nil
}

// signForSession signs an access token for a live offline session.
func (s *Service) signForSession(ctx context.Context, t store.RefreshToken, scopes []string) (TokenResponse, error) {
	if !t.RevokedAt.IsZero() || s.view.SessionRevoked(t.FamilyID) {
		return TokenResponse{}, errBadRefresh
	}
	if err := s.checkRefreshLifetime(t, s.now()); err != nil {
		return TokenResponse{}, err
	}
	acct, err := s.sessionAccount(ctx, t)
	if err != nil {
		return TokenResponse{}, err
	}
	return s.sign(ctx, acct, acct.ID, t.ClientID, scopes, t.FamilyID)
}

// offlineCache keeps the access token minted for each offline token until
// it nears expiry, so that clients sending their offline token on every call
// cost one database read per access-token lifetime, not one per call.
type offlineCache struct {
	mu      sync.RWMutex
	entries map[string]offlineEntry // key: the token's keyed hash
	flight  singleflight.Group
	// unknown remembers, until the time stored, offline tokens that are not
	// in the database, so that a client or attacker repeating a junk gho_
	// token costs one database read per unknownTTL, not one per call. Only
	// "not found" is kept, never "valid": revocation is never masked.
	unknown *lru.Cache[string, time.Time]
}

// Bounds of the unknown-token cache: a flood of distinct junk tokens
// pushes out only other junk tokens.
const (
	unknownTTL  = 30 * time.Second
	unknownSize = 4096
)

// remaining is the cached response with expires_in counting down to the
// token's exp: clients (x/oauth2, requests-oauthlib) renew by it, and the
// full lifetime repeated for a cached token made them send expired ones.
func (e offlineEntry) remaining(now time.Time) TokenResponse {
	res := e.res
	if !res.ExpiresAt.IsZero() {
		// Rounded up: exp has second precision, now does not.
		res.ExpiresIn = max(int64((res.ExpiresAt.Sub(now)+time.Second-1)/time.Second), 0)
	}
	return res
}

type offlineEntry struct {
	res       TokenResponse
	clientID  string
	session   string
	account   string
	issuedAt  time.Time
	refreshAt time.Time
}

func newOfflineCache() *offlineCache {
	unknown, err := lru.New[string, time.Time](unknownSize)
	if err != nil { // only for a size <= 0
		panic(err)
	}
	return &offlineCache{entries: make(map[string]offlineEntry), unknown: unknown}
}

// isUnknown reports whether key was not in the database less than
// unknownTTL ago.
func (c *offlineCache) isUnknown(key string, now time.Time) bool {
	until, ok := c.unknown.Get(key)
	if ok && !now.Before(until) {
		c.unknown.Remove(key)
		return false
	}
	return ok
}

func (c *offlineCache) markUnknown(key string, now time.Time) {
	c.unknown.Add(key, now.Add(unknownTTL))
}

// forgetUnknown is for a token just created with key (a random 256-bit
// token cannot have been presented before, but then it must work at once).
func (c *offlineCache) forgetUnknown(key string) {
	c.unknown.Remove(key)
}

func (c *offlineCache) get(key string) (offlineEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[key]
	return e, ok
}

func (c *offlineCache) put(key string, e offlineEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, old := range c.entries { // drop stale entries as the map grows
		if len(c.entries) < 1024 {
			break
		}
		if now.After(old.refreshAt) {
			delete(c.entries, k)
		}
	}
	c.entries[key] = e
}

func (c *offlineCache) drop(key string) {
	c.mu.Lock()
	delete(c.entries, key)
	c.mu.Unlock()
}

// renewOffline returns an access token for an offline token: the cached one
// while it has more than a tenth of its life (at least 30 s) left, otherwise
// a new one, after checking the token in the database. Concurrent renewals
// of one token share a single database round. checkClient, when not nil,
// vets the client the token was issued to before anything is returned.
func (s *Service) renewOffline(ctx context.Context, token string, checkClient func(clientID string) error) (TokenResponse, error) {
	if !looksOpaque(token, OfflineTokenPrefix) {
		return TokenResponse{}, errBadRefresh
	}
	hash := s.secrets.Hash(token)
	key := string(hash)
	now := s.now()
	if e, ok := s.offline.get(key); ok && now.Before(e.refreshAt) {
		acct, status := s.view.Account(e.account)
		if !s.view.Revoked("", e.session, e.account, e.issuedAt) && status != view.Deleted && (status == view.Unknown || acct.Active) {
			if checkClient != nil {
				if err := checkClient(e.clientID); err != nil {
					return TokenResponse{}, err
				}
			}
			return e.remaining(now), nil
		}
		s.offline.drop(key)
		return TokenResponse{}, errBadRefresh
	}
	if s.offline.isUnknown(key, now) {
		return TokenResponse{}, errBadRefresh
	}
	v, err, _ := s.offline.flight.Do(key, func() (any, error) {
		t, err := s.store.RefreshTokenByHash(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			s.offline.markUnknown(key, s.now())
		}
		if errors.Is(err, store.ErrNotFound) || (err == nil && !t.Offline) {
			return nil, errBadRefresh
		}
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "could not read the offline token")
		}
		res, err := s.signForSession(ctx, t, splitScope(t.Scope))
		if err != nil {
			return nil, err
		}
		if err := s.store.TouchRefreshToken(ctx, t.ID, s.now().UTC()); err != nil {
			s.log.Warn("could not record offline token use", "session", t.FamilyID, "err", err)
		}
		ttl := time.Duration(res.ExpiresIn) * time.Second
		margin := max(ttl/10, 30*time.Second)
		issued := s.now().Truncate(time.Second)
		e := offlineEntry{res: res, clientID: t.ClientID, session: t.FamilyID, account: t.AccountID, issuedAt: issued, refreshAt: issued.Add(ttl - margin)}
		s.offline.put(key, e, issued)
		return e, nil
	})
	if err != nil {
		return TokenResponse{}, err
	}
	// Checked per caller: concurrent callers share the database round, not
	// their client's authentication.
	e := v.(offlineEntry)
	if checkClient != nil {
		if err := checkClient(e.clientID); err != nil {
			return TokenResponse{}, err
		}
	}
	return e.remaining(s.now()), nil
}
