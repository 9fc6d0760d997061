package core

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/federation"
	"github.com/gatehouse/gatehouse/service/view"
	"github.com/gatehouse/gatehouse/store"
)

// GrantTokenExchange is RFC 8693's grant type.
const GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// RFC 8693 §3 token type identifiers.
const (
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// IdentitySourceLocal is the identity_source of gatehouse's own tokens.
const IdentitySourceLocal = "gatehouse"

// peekIssuer returns the unverified `iss` of a compact JWT, or "" — only to
// choose between gatehouse's own keys and a trusted issuer's; the chosen
// path then verifies everything.
func peekIssuer(token string) string {
	first := strings.IndexByte(token, '.')
	if first < 0 {
		return ""
	}
	rest := token[first+1:]
	second := strings.IndexByte(rest, '.')
	if second < 0 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(rest[:second])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Iss
}

// isForeign reports whether token comes from a trusted issuer.
func (s *Service) isForeign(token string) bool {
	if s.fed == nil || s.fed.Empty() {
		return false // the common case costs no decoding
	}
	iss := peekIssuer(token)
	return iss != "" && iss != s.cfg.Issuer && s.fed.Trusted(iss)
}

// validateForeign verifies a trusted issuer's token and maps it to the local
// principal: the account found by the issuer's identity claims (in order),
// with the union of its roles and the roles mapped from the token's groups.
func (s *Service) validateForeign(ctx context.Context, token string, opts ValidateOptions) (Principal, error) {
	v, err := s.fed.Verify(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	id, acct, err := s.mapIdentity(ctx, v)
	if err != nil {
		return Principal{}, err
	}
	if !acct.Active {
		return Principal{}, errs.New(errs.PermissionDenied, "the account is disabled")
	}
	if s.view.Revoked("", "", id, v.IssuedAt) {
		return Principal{}, errs.New(errs.Unauthenticated, "invalid token: revoked")
	}
	p := Principal{
		Subject:        id,
		Kind:           acct.Kind,
		Username:       acct.Username,
		ClientID:       acct.ClientID,
		Email:          acct.Email,
		Roles:          mergeRoles(acct.Roles, v.Roles),
		Scopes:         foreignScopes(v.Claims),
		Issuer:         v.Issuer.Issuer,
		Audience:       foreignAudience(v.Claims),
		IssuedAt:       v.IssuedAt,
		ExpiresAt:      v.ExpiresAt,
		TokenID:        stringClaim(v.Claims, "jti", "uti"),
		IdentitySource: v.Issuer.Issuer,
	}
	if opts.Audience != "" && !slices.Contains(p.Audience, opts.Audience) {
		return Principal{}, errs.New(errs.Unauthenticated, "invalid token: audience does not match")
	}
	return p, s.checkRequirements(p, opts)
}

// mapIdentity finds the local account of a verified foreign identity, or
// provisions it when the issuer allows just-in-time users.
func (s *Service) mapIdentity(ctx context.Context, v *federation.Verified) (string, view.Account, error) {
	appOnly := isAppOnly(v)
	for _, ident := range v.Identities {
		// In a user's token appid/azp name the app that asked for it, not
		// the caller: they identify a service principal only in app-only tokens.
		if ident.ServicePrincipal != appOnly {
			continue
		}
		fields := []string{"username", "email"}
		switch {
		case ident.ServicePrincipal:
			fields = []string{"client_id"}
		case ident.Claim == "email":
			fields = []string{"email"}
		}
		for _, f := range fields {
			if id, acct, ok := s.view.AccountByName(f, ident.Value); ok {
				if ident.ServicePrincipal != (acct.Kind == store.KindService) {
					continue
				}
				return id, acct, nil
			}
		}
	}
	if !v.Issuer.JITProvisioning || appOnly {
		return "", view.Account{}, errs.New(errs.PermissionDenied, "no local account matches this %s identity", truncate(v.Issuer.Issuer))
	}
	return s.provision(ctx, v)
}

// isAppOnly reports whether a token stands for an application rather than
// a user: Entra ID marks those with idtyp "app" (optional claim) and gives
// them no scp; any token without a user identity claim counts too.
func isAppOnly(v *federation.Verified) bool {
	if stringClaim(v.Claims, "idtyp") == "app" {
		return true
	}
	for _, ident := range v.Identities {
		if !ident.ServicePrincipal {
			return false
		}
	}
	return len(v.Identities) > 0
}

// provision creates a user for a verified foreign identity, with the mapped
// roles and no password.
func (s *Service) provision(ctx context.Context, v *federation.Verified) (string, view.Account, error) {
	email := stringClaim(v.Claims, "email")
	if _, err := normaliseEmail(email); err != nil {
		email = ""
	}
	username := ""
	for _, c := range []string{"preferred_username", "upn", "email"} {
		if u, err := normaliseUsername(stringClaim(v.Claims, c)); err == nil {
			username = u
			break
		}
	}
	if username == "" {
		// No usable name: a stable one from issuer and subject.
		sum := sha256.Sum256([]byte(v.Issuer.Issuer + "\x00" + v.Subject))
		username = "ext-" + hex.EncodeToString(sum[:8])
	}
	a, err := s.CreateUser(ctx, NewUser{Username: username, Email: email, DisplayName: truncate(stringClaim(v.Claims, "name")), Roles: v.Roles})
	if err != nil {
		if errs.KindOf(err) == errs.AlreadyExists {
			return "", view.Account{}, errs.New(errs.PermissionDenied, "cannot provision %s: the name is taken by another account", username)
		}
		return "", view.Account{}, err
	}
	s.log.Info("provisioned a user from a trusted issuer", "issuer", v.Issuer.Issuer, "account", a.ID, "username", a.Username)
	return a.ID, view.Account{Kind: a.Kind, Username: a.Username, Email: a.Email, Active: a.Active, Roles: a.Roles}, nil
}

// checkRequirements applies ValidateOptions' role and scope requirements.
func (s *Service) checkRequirements(p Principal, opts ValidateOptions) error {
	for _, r := range opts.RequiredRoles {
		if !p.HasRole(r) {
			return errs.New(errs.PermissionDenied, "the principal lacks required role %q", truncate(r))
		}
	}
	for _, sc := range opts.RequiredScopes {
		if !slices.Contains(p.Scopes, sc) {
			return errs.New(errs.PermissionDenied, "the token lacks required scope %q", truncate(sc))
		}
	}
	return nil
}

// exchangeGrant is RFC 8693 token exchange: an authenticated client swaps a
// trusted issuer's token for a gatehouse access token of the mapped principal.
func (s *Service) exchangeGrant(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	client, err := s.authenticateClient(ctx, req.ClientID, req.ClientSecret, req.ClientIP)
	if err != nil {
		return TokenResponse{}, err
	}
	switch {
	case req.SubjectToken == "" || req.SubjectTokenType == "":
		return TokenResponse{}, errs.New(errs.InvalidArgument, "token exchange needs subject_token and subject_token_type").WithOAuth("invalid_request")
	case req.SubjectTokenType != TokenTypeJWT && req.SubjectTokenType != TokenTypeAccessToken:
		return TokenResponse{}, errs.New(errs.InvalidArgument, "subject_token_type must be %s or %s", TokenTypeJWT, TokenTypeAccessToken).WithOAuth("invalid_request")
	case req.ActorToken != "":
		return TokenResponse{}, errs.New(errs.InvalidArgument, "actor_token (delegation) is not supported").WithOAuth("invalid_request")
	case req.RequestedTokenType != "" && req.RequestedTokenType != TokenTypeAccessToken:
		return TokenResponse{}, errs.New(errs.InvalidArgument, "only requested_token_type %s can be issued", TokenTypeAccessToken).WithOAuth("invalid_request")
	case req.Audience != "" && req.Audience != s.cfg.Audience:
		return TokenResponse{}, errs.New(errs.InvalidArgument, "audience %q is not one this server issues tokens for", truncate(req.Audience)).WithOAuth("invalid_target")
	case len(req.SubjectToken) > 8<<10:
		return TokenResponse{}, errs.New(errs.InvalidArgument, "subject_token is larger than 8 KiB").WithOAuth("invalid_request")
	case !s.isForeign(req.SubjectToken):
		return TokenResponse{}, errs.New(errs.Unauthenticated, "subject_token is not from a trusted issuer").WithOAuth("invalid_grant")
	}
	scopes, err := s.parseScope(req.Scope)
	if err != nil {
		return TokenResponse{}, err
	}
	scopes = slices.DeleteFunc(scopes, func(sc string) bool { return sc == ScopeOfflineAccess })
	p, err := s.validateForeign(ctx, req.SubjectToken, ValidateOptions{})
	if err != nil {
		e := errs.As(err)
		if e.OAuthCode == "" && e.Kind != errs.Internal {
			e = &errs.Error{Kind: e.Kind, Message: e.Message, OAuthCode: "invalid_grant", Err: e.Err}
		}
		return TokenResponse{}, e
	}
	acct, err := s.store.GetAccount(ctx, store.AccountKey{ID: p.Subject})
	if err != nil {
		return TokenResponse{}, errs.Wrap(errs.Internal, err, "could not read the account")
	}
	mapped := slices.DeleteFunc(slices.Clone(p.Roles), func(r string) bool { return slices.Contains(acct.Roles, r) })
	acct.Roles = p.Roles // offline verifiers see local and mapped roles alike
	res, err := s.signToken(tokenSpec{acct: acct, subject: acct.ID, clientID: client.ClientID, scopes: scopes, idp: p.IdentitySource, idpRoles: mapped})
	if err != nil {
		return TokenResponse{}, err
	}
	res.IssuedTokenType = TokenTypeAccessToken
	return res, nil
}

// mergeRoles returns the sorted union of two role lists.
func mergeRoles(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func stringClaim(claims map[string]any, names ...string) string {
	for _, n := range names {
		if v, ok := claims[n].(string); ok && v != "" {
			return v
		}
	}
	return ""
}

// foreignScopes reads `scp` (Entra ID) or `scope`, space-separated.
func foreignScopes(claims map[string]any) []string {
	return splitScope(stringClaim(claims, "scp", "scope"))
}

func foreignAudience(claims map[string]any) []string {
	switch a := claims["aud"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
