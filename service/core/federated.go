package core

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"

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
	if jsonv2.Unmarshal(payload, &c) != nil { // exact names, as token.go decodes
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
// principal: the account linked to (issuer, stable subject) (see
// mapIdentity), with the union of its roles and the roles mapped from the
// token's groups.
func (s *Service) validateForeign(ctx context.Context, token string, opts ValidateOptions) (Principal, error) {
	v, err := s.verifyForeign(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	return s.foreignPrincipal(ctx, v, opts)
}

// verifyForeign is federation's Verify through the verify cache: a token
// verified under the issuer's current Generation skips the signature, and
// only its time and claim rules are checked again (Recheck).
func (s *Service) verifyForeign(ctx context.Context, token string) (*federation.Verified, error) {
	iss := peekIssuer(token)
	gen, ok := s.fed.Generation(iss)
	if !ok {
		return s.fed.Verify(ctx, token) // not trusted (any more): Verify says why
	}
	key := sha256.Sum256([]byte(token))
	if v, hit := s.cache.getForeign(key, gen); hit {
		return s.fed.Recheck(v)
	}
	v, err := s.fed.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if v.Issuer.Issuer == iss { // the generation read is the verifying issuer's
		s.cache.putForeign(key, gen, v)
	}
	return v, nil
}

// foreignPrincipal maps a verified foreign token to the local principal.
func (s *Service) foreignPrincipal(ctx context.Context, v *federation.Verified, opts ValidateOptions) (Principal, error) {
	id, acct, err := s.mapIdentity(ctx, v)
	if err != nil {
		return Principal{}, err
	}
	if !acct.Active {
		return Principal{}, errs.New(errs.PermissionDenied, "the account is disabled").WithReason(ReasonDisabled)
	}
	if s.view.Revoked("", "", id, v.IssuedAt) {
		return Principal{}, errs.New(errs.Unauthenticated, "invalid token: revoked").WithReason(ReasonRevoked)
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
		return Principal{}, errs.New(errs.Unauthenticated, "invalid token: audience does not match").WithReason(ReasonAudience)
	}
	return p, s.checkRequirements(p, opts)
}

// mapIdentity finds the local account of a verified foreign identity: only
// through a link (trusted issuer, stable subject) → account, or by making
// the first link under the issuer's explicit link_by policy, or by
// provisioning a new account with its link when the issuer allows
// just-in-time users. Mutable claims (email, preferred_username, upn) are
// read only to make a first link, never to find an account afresh, and an
// account holding the admin role or a local password is never linked
// automatically: an admin links it explicitly (LinkIdentity).
func (s *Service) mapIdentity(ctx context.Context, v *federation.Verified) (string, view.Account, error) {
	subject := v.StableSubject()
	if subject == "" {
		return "", view.Account{}, errs.New(errs.PermissionDenied, "the %s token has no stable subject (sub, or tid and oid for Entra ID)", truncate(v.Issuer.Issuer))
	}
	if id, acct, ok := s.view.LinkedAccount(v.Issuer.ID, subject); ok {
		return id, acct, nil
	}
	noAccount := errs.New(errs.PermissionDenied, "no local account is linked to this %s identity", truncate(v.Issuer.Issuer))
	if isAppOnly(v) {
		// Service principals: a link made by an admin, or the app's client id
		// listed in the issuer's exchange_clients and equal to an existing
		// service client's client_id. Never provisioned.
		a, ok, err := s.servicePrincipalMatch(ctx, v)
		if err != nil {
			return "", view.Account{}, err
		}
		if !ok {
			return "", view.Account{}, noAccount
		}
		return s.linkFound(ctx, v, subject, a, store.LinkByExchangeClients)
	}
	a, how, err := s.policyMatch(ctx, v)
	if err != nil {
		return "", view.Account{}, err
	}
	if how != "" {
		return s.linkFound(ctx, v, subject, a, how)
	}
	if !v.Issuer.JITProvisioning {
		return "", view.Account{}, noAccount
	}
	return s.provision(ctx, v, subject)
}

// linkFound stores the first link of (issuer, subject) to a and returns a.
// When another replica linked the subject a moment ago, its link wins.
func (s *Service) linkFound(ctx context.Context, v *federation.Verified, subject string, a store.Account, how string) (string, view.Account, error) {
	_, err := s.store.CreateFederatedLink(audited(ctx, linkEvent(store.AuditLinkCreated, v.Issuer, subject, a, how)),
		store.FederatedLink{IssuerID: v.Issuer.ID, Subject: subject, AccountID: a.ID, CreatedBy: how})
	switch {
	case errors.Is(err, store.ErrConflict):
		return s.storedLink(ctx, v, subject)
	case err != nil:
		return "", view.Account{}, errs.Wrap(errs.Internal, err, "could not store the federated link")
	}
	s.log.Info("linked a federated identity", "issuer", v.Issuer.Issuer, "subject", truncate(subject), "account", a.ID, "by", how)
	s.syncView(ctx)
	return a.ID, viewAccount(a), nil
}

// storedLink reads the link of (issuer, subject) from the database: for a
// link made on another replica that this view has not seen yet.
func (s *Service) storedLink(ctx context.Context, v *federation.Verified, subject string) (string, view.Account, error) {
	l, err := s.store.FederatedLink(ctx, v.Issuer.ID, subject)
	if err != nil {
		return "", view.Account{}, errs.Wrap(errs.Internal, err, "could not read the federated link")
	}
	a, err := s.store.GetAccount(ctx, store.AccountKey{ID: l.AccountID})
	if errors.Is(err, store.ErrNotFound) {
		return "", view.Account{}, errs.New(errs.PermissionDenied, "the account linked to this %s identity no longer exists", truncate(v.Issuer.Issuer))
	}
	if err != nil {
		return "", view.Account{}, errs.Wrap(errs.Internal, err, "could not read the account")
	}
	return a.ID, viewAccount(a), nil
}

// policyMatch applies the issuer's link_by policy to a user token: the
// account named by the policy's claim, if it may be linked automatically.
// how is "" when nothing matches.
func (s *Service) policyMatch(ctx context.Context, v *federation.Verified) (store.Account, string, error) {
	var keys []store.AccountKey
	switch v.Issuer.LinkBy {
	case LinkByVerifiedEmail:
		if !emailVerified(v.Claims) {
			return store.Account{}, "", nil
		}
		if e, err := normaliseEmail(stringClaim(v.Claims, "email")); err == nil && e != "" {
			keys = append(keys, store.AccountKey{Email: e})
		}
	case LinkByUsername:
		if u, err := normaliseUsername(stringClaim(v.Claims, "preferred_username")); err == nil {
			keys = append(keys, store.AccountKey{Username: u})
		}
	case LinkByUPN:
		// upn is assigned by the tenant's administrators, not by the user.
		upn := stringClaim(v.Claims, "upn")
		if u, err := normaliseUsername(upn); err == nil {
			keys = append(keys, store.AccountKey{Username: u})
		}
		if e, err := normaliseEmail(upn); err == nil && e != "" {
			keys = append(keys, store.AccountKey{Email: e})
		}
	default: // none, or not set
		return store.Account{}, "", nil
	}
	for _, k := range keys {
		a, err := s.store.GetAccount(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.Account{}, "", errs.Wrap(errs.Internal, err, "could not read the account")
		}
		if a.Kind != store.KindUser {
			continue
		}
		if reason := privileged(a); reason != "" {
			s.log.Warn("refused to link a federated identity automatically; an admin may link it with `gatehouse issuers link`",
				"issuer", v.Issuer.Issuer, "subject", truncate(v.StableSubject()), "account", a.ID, "reason", reason)
			return store.Account{}, "", errs.New(errs.PermissionDenied, "no local account is linked to this %s identity", truncate(v.Issuer.Issuer))
		}
		return a, v.Issuer.LinkBy, nil
	}
	return store.Account{}, "", nil
}

// privileged says why an account must never be linked automatically: it
// holds the admin role or has a local password (its owner proves who they
// are to gatehouse itself). "" when it may be linked.
func privileged(a store.Account) string {
	switch {
	case slices.Contains(a.Roles, RoleAdmin):
		return "the account holds the admin role"
	case a.PasswordHash != "":
		return "the account has a local password"
	}
	return ""
}

// emailVerified reports whether the IdP vouches for the token's email:
// email_verified true (OpenID Connect), or Entra ID's xms_edov true.
func emailVerified(claims map[string]any) bool {
	for _, name := range []string{"email_verified", "xms_edov"} {
		switch b := claims[name].(type) {
		case bool:
			if b {
				return true
			}
		case string:
			if b == "true" {
				return true
			}
		}
	}
	return false
}

// servicePrincipalMatch maps an app-only token whose appid/azp is listed in
// the issuer's exchange_clients to the service client with that client_id.
func (s *Service) servicePrincipalMatch(ctx context.Context, v *federation.Verified) (store.Account, bool, error) {
	for _, ident := range v.Identities {
		if !ident.ServicePrincipal || !slices.Contains(v.Issuer.ExchangeClients, ident.Value) {
			continue
		}
		a, err := s.store.GetAccount(ctx, store.AccountKey{ClientID: ident.Value})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return store.Account{}, false, errs.Wrap(errs.Internal, err, "could not read the service client")
		}
		if a.Kind == store.KindService {
			return a, true, nil
		}
	}
	return store.Account{}, false, nil
}

func viewAccount(a store.Account) view.Account {
	return view.Account{Kind: a.Kind, Username: a.Username, ClientID: a.ClientID, Email: a.Email, Active: a.Active, Roles: a.Roles}
}

// storeAccount is the account with id as the view holds it, with what
// signing a token for it needs (not its password or secret hash).
func storeAccount(id string, a view.Account) store.Account {
	return store.Account{ID: id, Kind: a.Kind, Username: a.Username, ClientID: a.ClientID, Email: a.Email,
		DisplayName: a.DisplayName, Audiences: a.Audiences, Active: a.Active, Roles: a.Roles}
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
func (s *Service) provision(ctx context.Context, v *federation.Verified, subject string) (string, view.Account, error) {
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
		sum := sha256.Sum256([]byte(v.Issuer.Issuer + "\x00" + subject))
		username = "ext-" + hex.EncodeToString(sum[:8])
	}
	a, err := s.CreateUser(ctx, NewUser{Username: username, Email: email, DisplayName: truncate(stringClaim(v.Claims, "name")), Roles: v.Roles})
	if err != nil {
		if errs.KindOf(err) == errs.AlreadyExists {
			return "", view.Account{}, errs.New(errs.PermissionDenied, "cannot provision %s: the name is taken by another account", username)
		}
		return "", view.Account{}, err
	}
	// The account and its link belong together: without the link the new
	// account is removed again, so no unlinked account is left behind.
	if _, err := s.store.CreateFederatedLink(audited(ctx, linkEvent(store.AuditLinkCreated, v.Issuer, subject, a, store.LinkByJIT)),
		store.FederatedLink{IssuerID: v.Issuer.ID, Subject: subject, AccountID: a.ID, CreatedBy: store.LinkByJIT}); err != nil {
		undo := accountEvent(a, store.AuditDeleted, map[string]string{"reason": "federated link failed"})
		if derr := s.store.DeleteAccount(audited(context.WithoutCancel(ctx), undo), a.ID); derr != nil {
			s.log.Error("could not remove a provisioned account whose link failed", "account", a.ID, "err", derr)
		}
		if errors.Is(err, store.ErrConflict) {
			return s.storedLink(ctx, v, subject)
		}
		return "", view.Account{}, errs.Wrap(errs.Internal, err, "could not store the federated link")
	}
	s.syncView(ctx)
	s.log.Info("provisioned a user from a trusted issuer", "issuer", v.Issuer.Issuer, "subject", truncate(subject), "account", a.ID, "username", a.Username)
	return a.ID, viewAccount(a), nil
}

// checkRequirements applies ValidateOptions' role and scope requirements.
func (s *Service) checkRequirements(p Principal, opts ValidateOptions) error {
	for _, r := range opts.RequiredRoles {
		if !p.HasRole(r) {
			return errs.New(errs.PermissionDenied, "the principal lacks required role %q", truncate(r)).WithReason(ReasonRequirements)
		}
	}
	for _, sc := range opts.RequiredScopes {
		if !slices.Contains(p.Scopes, sc) {
			return errs.New(errs.PermissionDenied, "the token lacks required scope %q", truncate(sc)).WithReason(ReasonRequirements)
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
	v, err := s.fed.Verify(ctx, req.SubjectToken)
	if err == nil && !slices.Contains(v.Issuer.ExchangeClients, client.ClientID) {
		// Only the clients the trusted issuer lists may turn its tokens
		// into gatehouse tokens (RFC 8693 §2.2.2, RFC 6749 §5.2).
		return TokenResponse{}, errs.New(errs.PermissionDenied, "client %q may not exchange tokens of %s (not in its exchange_clients)", truncate(client.ClientID), truncate(v.Issuer.Issuer)).WithOAuth("unauthorized_client")
	}
	var p Principal
	if err == nil {
		p, err = s.foreignPrincipal(ctx, v, ValidateOptions{})
	}
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
	res, err := s.signToken(ctx, tokenSpec{acct: acct, subject: acct.ID, clientID: client.ClientID, scopes: scopes, idp: p.IdentitySource, idpRoles: mapped})
	if err != nil {
		return TokenResponse{}, err
	}
	res.IssuedTokenType = TokenTypeAccessToken
	s.obs.Observe(ctx, Event{Type: EventTokenExchanged, Subject: acct.ID, ClientID: client.ClientID, IP: req.ClientIP,
		Detail: map[string]string{"issuer": v.Issuer.Issuer}})
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
