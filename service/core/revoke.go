package core

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

// RevokeRequest is RFC 7009's request. ClientID/ClientSecret are optional;
// when given, the token must belong to that client. A public client names
// itself by ClientID alone, as at the token endpoint.
type RevokeRequest struct {
	Token, TokenTypeHint, ClientID, ClientSecret, ClientIP string
}

// RevokeToken revokes a refresh or offline token (its whole session) or an
// access token (by jti). As RFC 7009 §2.2 asks, a token that is unknown,
// malformed or already invalid is not an error.
func (s *Service) RevokeToken(ctx context.Context, req RevokeRequest) error {
	if req.Token == "" {
		return errs.New(errs.InvalidArgument, "token is required").WithOAuth("invalid_request")
	}
	var client *store.OAuthClient
	if req.ClientID != "" || req.ClientSecret != "" {
		c, err := s.authenticateOAuthClient(ctx, req.ClientID, req.ClientSecret, req.ClientIP) // oidc_clients.go
		if err != nil {
			return err
		}
		client = &c
	}
	if looksOpaque(req.Token, RefreshTokenPrefix) || looksOpaque(req.Token, OfflineTokenPrefix) {
		t, err := s.store.RefreshTokenByHash(ctx, s.secrets.Hash(req.Token))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return errs.Wrap(errs.Internal, err, "could not read the token")
		}
		if client != nil && client.ClientID != t.ClientID {
			return errs.New(errs.PermissionDenied, "the token was issued to another client").WithOAuth("unauthorized_client")
		}
		if err := s.store.RevokeFamily(ctx, t.FamilyID, s.now().UTC()); err != nil {
			return errs.Wrap(errs.Internal, err, "could not revoke the token")
		}
		s.offline.drop(string(t.TokenHash))
		s.syncView(ctx)
		s.obs.Observe(ctx, Event{Type: EventTokenRevoked, Subject: t.AccountID, ClientID: t.ClientID, IP: req.ClientIP,
			Detail: map[string]string{"session": t.FamilyID}})
		return nil
	}
	c, err := s.verify(req.Token)
	if err != nil || c.Issuer != s.cfg.Issuer || !time.Unix(c.ExpiresAt, 0).After(s.now()) {
		return nil // not a live token of ours: nothing to revoke
	}
	if client != nil && client.ClientID != c.ClientID {
		return errs.New(errs.PermissionDenied, "the token was issued to another client").WithOAuth("unauthorized_client")
	}
	if err := s.store.RevokeAccessToken(ctx, c.ID); err != nil {
		return errs.Wrap(errs.Internal, err, "could not revoke the token")
	}
	s.syncView(ctx)
	s.obs.Observe(ctx, Event{Type: EventTokenRevoked, Subject: c.accountID(), ClientID: c.ClientID, IP: req.ClientIP,
		Detail: map[string]string{"jti": c.ID}})
	return nil
}

// Introspection is RFC 7662's answer. Active false means nothing else is set.
type Introspection struct {
	Active    bool
	Scope     string
	ClientID  string
	Username  string
	TokenType string // access_token, refresh_token, offline_token
	ExpiresAt int64
	IssuedAt  int64
	NotBefore int64
	Subject   string
	Audience  []string
	Issuer    string
	JTI       string
	Roles     []string
	SessionID string
}

// Introspect answers RFC 7662 for an authenticated caller, which must be a
// service client (the handlers authenticate it).
func (s *Service) Introspect(ctx context.Context, caller store.Account, token string) (Introspection, error) {
	if caller.Kind != store.KindService || !caller.Active {
		return Introspection{}, errs.New(errs.PermissionDenied, "introspection is for service clients").WithOAuth("unauthorized_client")
	}
	if token == "" {
		return Introspection{}, errs.New(errs.InvalidArgument, "token is required").WithOAuth("invalid_request")
	}
	if looksOpaque(token, RefreshTokenPrefix) || looksOpaque(token, OfflineTokenPrefix) {
		return s.introspectOpaque(ctx, token)
	}
	p, err := s.ValidateToken(ctx, token, ValidateOptions{})
	if err != nil || p.TokenID == "" {
		return Introspection{}, nil
	}
	c, err := s.verify(token)
	if err != nil {
		return Introspection{}, nil
	}
	return Introspection{
		Active: true, Scope: c.Scope, ClientID: c.ClientID, Username: p.Username, TokenType: "access_token",
		ExpiresAt: c.ExpiresAt, IssuedAt: c.IssuedAt, NotBefore: c.NotBefore, Subject: c.Subject,
		Audience: c.Audience, Issuer: c.Issuer, JTI: c.ID, Roles: p.Roles, SessionID: c.SessionID,
	}, nil
}

func (s *Service) introspectOpaque(ctx context.Context, token string) (Introspection, error) {
	t, err := s.store.RefreshTokenByHash(ctx, s.secrets.Hash(token))
	if errors.Is(err, store.ErrNotFound) {
		return Introspection{}, nil
	}
	if err != nil {
		return Introspection{}, errs.Wrap(errs.Internal, err, "could not read the token")
	}
	now := s.now()
	if !t.RevokedAt.IsZero() || !t.RotatedAt.IsZero() || s.view.SessionRevoked(t.FamilyID) || s.checkRefreshLifetime(t, now) != nil {
		return Introspection{}, nil
	}
	acct, err := s.store.GetAccount(ctx, store.AccountKey{ID: t.AccountID})
	if err != nil || !acct.Active {
		return Introspection{}, nil
	}
	out := Introspection{
		Active: true, Scope: t.Scope, ClientID: t.ClientID, Username: acct.Username, TokenType: "refresh_token",
		IssuedAt: t.CreatedAt.Unix(), Subject: acct.ID, Issuer: s.cfg.Issuer, Roles: acct.Roles, SessionID: t.FamilyID,
	}
	if t.Offline {
		out.TokenType = "offline_token"
	}
	if !t.ExpiresAt.IsZero() {
		out.ExpiresAt = t.ExpiresAt.Unix()
	}
	return out, nil
}

// Session is one live login of an account.
type Session struct {
	ID, AccountID, ClientID, Scope string
	Offline                        bool
	CreatedAt, LastUsedAt          time.Time
	ExpiresAt                      time.Time // zero: none
}

// ListSessions returns an account's live sessions.
func (s *Service) ListSessions(ctx context.Context, accountID string) ([]Session, error) {
	if _, err := s.getAccount(ctx, store.AccountKey{ID: accountID}, ""); err != nil {
		return nil, err
	}
	now := s.now()
	live, err := s.store.LiveSessions(ctx, accountID, now)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "could not list sessions")
	}
	out := make([]Session, 0, len(live))
	for _, t := range live {
		if s.checkRefreshLifetime(t, now) != nil {
			continue
		}
		sess := Session{ID: t.FamilyID, AccountID: t.AccountID, ClientID: t.ClientID, Scope: t.Scope, Offline: t.Offline,
			CreatedAt: t.FamilyCreatedAt, LastUsedAt: t.LastUsedAt, ExpiresAt: t.ExpiresAt}
		if idle := s.idleTTL(t); idle > 0 && (sess.ExpiresAt.IsZero() || t.LastUsedAt.Add(idle).Before(sess.ExpiresAt)) {
			sess.ExpiresAt = t.LastUsedAt.Add(idle)
		}
		out = append(out, sess)
	}
	return out, nil
}

// RevokeSession ends one session.
func (s *Service) RevokeSession(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return errs.New(errs.InvalidArgument, "id is required")
	}
	owner, err := s.store.SessionOwner(ctx, sessionID)
	if errors.Is(err, store.ErrNotFound) {
		return errs.New(errs.NotFound, "no such session")
	} else if err != nil {
		return errs.Wrap(errs.Internal, err, "could not read the session")
	}
	ev := store.AuditEvent{Type: store.AuditSessionRevoked, Target: sessionID, Detail: map[string]string{"account": owner}}
	if err := s.store.RevokeFamily(audited(ctx, ev), sessionID, s.now().UTC()); err != nil {
		return errs.Wrap(errs.Internal, err, "could not revoke the session")
	}
	s.syncView(ctx)
	return nil
}

// RevokeAllSessions ends every session of an account and invalidates its
// access tokens.
func (s *Service) RevokeAllSessions(ctx context.Context, accountID string) (int, error) {
	a, err := s.getAccount(ctx, store.AccountKey{ID: accountID}, "")
	if err != nil {
		return 0, err
	}
	n, err := s.store.RevokeAccountTokens(audited(ctx, accountEvent(a, store.AuditAllSessionsRevoked, nil)), accountID, s.now().UTC())
	if err != nil {
		return 0, errs.Wrap(errs.Internal, err, "could not revoke the sessions")
	}
	s.syncView(ctx)
	return n, nil
}
