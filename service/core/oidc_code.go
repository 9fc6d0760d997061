package core

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/store"
)

var errBadCode = errs.New(errs.Unauthenticated, "the authorization code is invalid, expired or already used").WithOAuth("invalid_grant")

// authorizationCodeGrant runs grant_type=authorization_code (RFC 6749
// §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).
func (s *Service) authorizationCodeGrant(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	switch {
	case req.Code == "":
		return TokenResponse{}, errs.New(errs.InvalidArgument, "the authorization_code grant needs code").WithOAuth("invalid_request")
	case req.RedirectURI == "":
		return TokenResponse{}, errs.New(errs.InvalidArgument, "the authorization_code grant needs redirect_uri").WithOAuth("invalid_request")
	case req.ClientID == "":
		return TokenResponse{}, errs.New(errs.Unauthenticated, "the authorization_code grant needs the client's client_id").WithOAuth("invalid_client")
	}
	client, err := s.authenticateOAuthClient(ctx, req.ClientID, req.ClientSecret, req.ClientIP)
	if err != nil {
		return TokenResponse{}, err
	}
	if !allowsGrant(client, GrantAuthorizationCode) {
		return TokenResponse{}, errs.New(errs.PermissionDenied, "client %q may not use the authorization_code grant", truncate(client.ClientID)).WithOAuth("unauthorized_client")
	}
	if len(req.Code) != len(AuthorizationCodePrefix)+43 || !strings.HasPrefix(req.Code, AuthorizationCodePrefix) || !isBase64URL(req.Code[len(AuthorizationCodePrefix):]) {
		return TokenResponse{}, errBadCode
	}
	now := s.now().UTC()
	code, err := s.store.RedeemAuthorizationCode(ctx, s.secrets.Hash(req.Code), now)
	switch {
	case errors.Is(err, store.ErrCodeReused):
		s.revokeCodeTokens(ctx, code)
		return TokenResponse{}, errs.New(errs.Unauthenticated, "the authorization code was already used; the tokens issued for it are revoked").WithOAuth("invalid_grant")
	case errors.Is(err, store.ErrNotFound):
		return TokenResponse{}, errBadCode
	case err != nil:
		return TokenResponse{}, errs.Wrap(errs.Internal, err, "could not redeem the authorization code")
	}
	// From here on the code is spent, whatever the outcome: a wrong
	// verifier or redirect URI cannot be retried against it.
	switch {
	case code.ClientID != client.ClientID:
		return TokenResponse{}, errBadCode
	case !now.Before(code.ExpiresAt):
		return TokenResponse{}, errBadCode
	case code.RedirectURI != req.RedirectURI:
		return TokenResponse{}, errs.New(errs.InvalidArgument, "redirect_uri differs from the authorization request's").WithOAuth("invalid_grant")
	}
	if err := checkVerifier(code.CodeChallenge, req.CodeVerifier); err != nil {
		return TokenResponse{}, err
	}
	if code.SessionID != "" && s.view.SessionRevoked(code.SessionID) {
		return TokenResponse{}, errs.New(errs.Unauthenticated, "the browser session of this code has ended").WithOAuth("invalid_grant")
	}
	acct, err := s.sessionAccount(ctx, store.RefreshToken{AccountID: code.AccountID})
	if err != nil {
		return TokenResponse{}, err
	}
	scopes := splitScope(code.Scope)
	refresh, family, err := s.codeSession(ctx, client, code, acct, scopes)
	if err != nil {
		return TokenResponse{}, err
	}
	if err := s.store.SetCodeIssuedFamily(ctx, code.ID, family); err != nil {
		return TokenResponse{}, errs.Wrap(errs.Internal, err, "could not record the code's session")
	}
	res, err := s.signToken(ctx, tokenSpec{acct: acct, subject: acct.ID, clientID: client.ClientID, scopes: scopes, session: family})
	if err != nil {
		return TokenResponse{}, err
	}
	res.RefreshToken = refresh
	if slices.Contains(scopes, scopeOpenID) {
		res.IDToken, err = s.signIDToken(ctx, idTokenSpec{
			acct: acct, client: client, nonce: code.Nonce, authTime: code.AuthTime, session: family,
			scopes: scopes, accessToken: res.AccessToken,
		})
		if err != nil {
			return TokenResponse{}, err
		}
	}
	return res, nil
}

// codeSession is the session the tokens of a code live in: an offline
// token's own session for offline_access; else the browser session itself,
// so that logging out of the browser (or revoking that session) ends the
// client's tokens too, with a rotating refresh token when the client may
// refresh.
func (s *Service) codeSession(ctx context.Context, client store.OAuthClient, code store.AuthorizationCode, acct store.Account, scopes []string) (refresh, family string, err error) {
	canRefresh := allowsGrant(client, GrantRefreshToken)
	if slices.Contains(scopes, ScopeOfflineAccess) && canRefresh {
		return s.newSession(ctx, acct, client.ClientID, scopes)
	}
	family = code.SessionID
	if family == "" {
		family = uuid.NewString()
	}
	if !canRefresh {
		return "", family, nil
	}
	refresh, err = secrets.RandomToken(RefreshTokenPrefix)
	if err != nil {
		return "", "", errs.Wrap(errs.Internal, err, "could not make a refresh token")
	}
	now := s.now().UTC()
	started := code.AuthTime
	if started.IsZero() || started.After(now) {
		started = now
	}
	t := store.RefreshToken{
		ID: uuid.NewString(), TokenHash: s.secrets.Hash(refresh), FamilyID: family, AccountID: acct.ID,
		ClientID: client.ClientID, Scope: strings.Join(scopes, " "), CreatedAt: now, FamilyCreatedAt: started,
		LastUsedAt: now, ExpiresAt: started.Add(s.cfg.RefreshAbsoluteTTL),
	}
	if _, err := s.store.CreateRefreshToken(ctx, t); err != nil {
		return "", "", errs.Wrap(errs.Internal, err, "could not store the refresh token")
	}
	return refresh, family, nil
}

// revokeCodeTokens ends the session a replayed code issued tokens in (RFC
// 6749 §4.1.2: the code was stolen, or the client is broken).
func (s *Service) revokeCodeTokens(ctx context.Context, code store.AuthorizationCode) {
	if code.IssuedFamily == "" {
		return
	}
	ev := store.AuditEvent{Type: store.AuditSessionRevoked, Target: code.IssuedFamily,
		Detail: map[string]string{"account": code.AccountID, "reason": "authorization code replayed", "client": code.ClientID}}
	if err := s.store.RevokeFamily(audited(ctx, ev), code.IssuedFamily, s.now().UTC()); err != nil {
		s.log.Error("could not revoke the session of a replayed authorization code", "session", code.IssuedFamily, "err", err)
		return
	}
	s.log.Warn("authorization code replayed: its session revoked", "session", code.IssuedFamily, "client", code.ClientID, "account", code.AccountID)
	s.syncView(ctx)
}

// checkVerifier is RFC 7636 §4.6 for S256.
func checkVerifier(challenge, verifier string) error {
	if challenge == "" {
		if verifier != "" {
			return errs.New(errs.InvalidArgument, "code_verifier sent for a code issued without code_challenge").WithOAuth("invalid_grant")
		}
		return nil
	}
	if verifier == "" {
		return errs.New(errs.InvalidArgument, "code_verifier is required").WithOAuth("invalid_grant")
	}
	if len(verifier) < 43 || len(verifier) > 128 || !isVerifierChars(verifier) {
		return errs.New(errs.InvalidArgument, "code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)").WithOAuth("invalid_grant")
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) != 1 {
		return errs.New(errs.InvalidArgument, "code_verifier does not match the code_challenge").WithOAuth("invalid_grant")
	}
	return nil
}

func isVerifierChars(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}
