package core

import (
	"context"
	"errors"
	"slices"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/store"
)

// UserInfo returns the OIDC Core §5.3 claims of the user an access token
// stands for: sub, and what its scopes allow. The token must be a user's,
// with scope openid. Errors are Unauthenticated (invalid_token) or
// PermissionDenied (insufficient_scope).
func (s *Service) UserInfo(ctx context.Context, token string) (map[string]any, error) {
	p, err := s.ValidateToken(ctx, token, ValidateOptions{})
	if err != nil {
		if k := errs.KindOf(err); k == errs.InvalidArgument || k == errs.PermissionDenied {
			err = errs.Wrap(errs.Unauthenticated, err, "%s", errs.As(err).Message)
		}
		return nil, err
	}
	if p.Kind != store.KindUser || !slices.Contains(p.Scopes, scopeOpenID) {
		return nil, errs.New(errs.PermissionDenied, "the token lacks scope openid")
	}
	acct, err := s.store.GetAccount(ctx, store.AccountKey{ID: p.Subject})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errs.New(errs.Unauthenticated, "invalid token: the account no longer exists")
	}
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "could not read the account")
	}
	out := map[string]any{"sub": acct.ID}
	profile, email := scopeClaims(acct, p.Scopes)
	if profile.username != "" {
		out["preferred_username"] = profile.username
	}
	if profile.name != "" {
		out["name"] = profile.name
	}
	if email.email != "" {
		out["email"], out["email_verified"] = email.email, *email.verified
	}
	return out, nil
}

// EndSessionRequest is RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2).
type EndSessionRequest struct {
	IDTokenHint, ClientID, PostLogoutRedirectURI, State string
}

// EndSession checks a logout request and returns where to send the browser
// afterwards: the registered post_logout_redirect_uri (exact match) of the
// client named by client_id or by the ID token hint's aud, or "" to show
// the signed-out page. The hint must be an ID token this server signed for
// that client (it may have expired); subject is its sub ("" without hint).
func (s *Service) EndSession(ctx context.Context, req EndSessionRequest) (redirect, subject string, err error) {
	clientID := req.ClientID
	if req.IDTokenHint != "" {
		aud, sub, err := s.checkIDTokenHint(req.IDTokenHint)
		if err != nil {
			return "", "", err
		}
		if clientID != "" && clientID != aud {
			return "", "", errs.New(errs.InvalidArgument, "client_id differs from the id_token_hint's audience").WithOAuth("invalid_request")
		}
		clientID, subject = aud, sub
	}
	if req.PostLogoutRedirectURI == "" {
		return "", subject, nil
	}
	if clientID == "" {
		return "", "", errs.New(errs.InvalidArgument, "post_logout_redirect_uri needs client_id or id_token_hint").WithOAuth("invalid_request")
	}
	c, err := s.oauthClient(ctx, clientID)
	if err != nil {
		return "", "", err
	}
	if !slices.Contains(c.PostLogoutRedirectURIs, req.PostLogoutRedirectURI) {
		return "", "", errs.New(errs.InvalidArgument, "post_logout_redirect_uri is not registered for client %q", truncate(c.ClientID)).WithOAuth("invalid_request")
	}
	return req.PostLogoutRedirectURI, subject, nil
}

// checkIDTokenHint verifies an ID token of this server by any published
// key, ignoring its expiry, and returns its aud and sub.
func (s *Service) checkIDTokenHint(token string) (aud, sub string, err error) {
	bad := errs.New(errs.InvalidArgument, "id_token_hint is not an ID token of this server").WithOAuth("invalid_request")
	t, err := jose.Parse(token)
	if err != nil {
		return "", "", bad
	}
	var key *jose.PublicKey
	for _, k := range s.view.Ring().Published {
		if k.KID == t.Header.Kid {
			key = &k
			break
		}
	}
	if key == nil || t.Verify(*key, append([]string{jose.RS256}, s.cfg.AllowedAlgs...)) != nil {
		return "", "", bad
	}
	// Exact claim names, as for access tokens (token.go).
	var c idTokenClaims
	if jsonv2.Unmarshal(t.Payload, &c) != nil || c.Issuer != s.cfg.Issuer || c.Audience == "" || c.AuthorizedParty == "" {
		return "", "", bad
	}
	return c.Audience, c.Subject, nil
}
