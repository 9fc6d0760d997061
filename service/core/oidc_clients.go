package core

import (
	"context"
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/store"
)

// Grant types of the authorization code flow (RFC 6749 §4.1) and the
// audit event of a change of a client's OAuth settings.
const (
	GrantAuthorizationCode = "authorization_code"
	auditOAuthSettingsSet  = "client.oauth_settings_set"
)

// Limits of a client's registered URIs.
const (
	maxRedirectURIs   = 20
	maxRedirectURILen = 2048
)

// knownGrants are the grant types a client may be allowed.
var knownGrants = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantPassword, GrantTokenExchange}

// CheckRedirectURI validates a redirect or post-logout redirect URI to
// register: absolute, https (http only on a loopback host, RFC 8252 §7.3),
// no fragment (RFC 6749 §3.1.2), no user info.
func CheckRedirectURI(raw string) error {
	if raw == "" || len(raw) > maxRedirectURILen {
		return errs.New(errs.InvalidArgument, "redirect URI %q must be 1-%d bytes", truncate(raw), maxRedirectURILen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return errs.New(errs.InvalidArgument, "redirect URI %q must be an absolute URL", truncate(raw))
	case strings.Contains(raw, "#"):
		return errs.New(errs.InvalidArgument, "redirect URI %q must not have a fragment", truncate(raw))
	case u.User != nil:
		return errs.New(errs.InvalidArgument, "redirect URI %q must not carry user information", truncate(raw))
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return errs.New(errs.InvalidArgument, "redirect URI %q must use https (http only on localhost, 127.0.0.1 or [::1])", truncate(raw))
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkURIs validates a list of URIs to register and drops repeats.
func checkURIs(what string, in []string) ([]string, error) {
	if len(in) > maxRedirectURIs {
		return nil, errs.New(errs.InvalidArgument, "%s: at most %d are allowed", what, maxRedirectURIs)
	}
	var out []string
	for _, u := range in {
		if err := CheckRedirectURI(u); err != nil {
			return nil, errs.New(errs.InvalidArgument, "%s: %s", what, errs.As(err).Message)
		}
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// checkOAuthSettings validates and normalises a client's OAuth settings.
func checkOAuthSettings(in store.OAuthClientSettings) (store.OAuthClientSettings, error) {
	out := in
	var err error
	if out.RedirectURIs, err = checkURIs("redirect_uris", in.RedirectURIs); err != nil {
		return out, err
	}
	if out.PostLogoutRedirectURIs, err = checkURIs("post_logout_redirect_uris", in.PostLogoutRedirectURIs); err != nil {
		return out, err
	}
	out.GrantTypes = nil
	for _, g := range in.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			return out, errs.New(errs.InvalidArgument, "grant_types: %q is not one of %s", truncate(g), strings.Join(knownGrants, ", "))
		}
		if in.Public && g == GrantClientCredentials {
			return out, errs.New(errs.InvalidArgument, "grant_types: a public client has no secret and cannot use client_credentials")
		}
		if !slices.Contains(out.GrantTypes, g) {
			out.GrantTypes = append(out.GrantTypes, g)
		}
	}
	if slices.Contains(out.GrantTypes, GrantAuthorizationCode) && len(out.RedirectURIs) == 0 {
		return out, errs.New(errs.InvalidArgument, "the authorization_code grant needs at least one redirect URI")
	}
	switch out.IDTokenAlg {
	case "", jose.RS256, jose.ES256, jose.EdDSA:
	default:
		return out, errs.New(errs.InvalidArgument, "id_token_signed_response_alg %q is not supported (use RS256, ES256 or EdDSA)", truncate(out.IDTokenAlg))
	}
	return out, nil
}

// OAuthClient is a service client's OAuth settings as the admin API shows them.
type OAuthClient = store.OAuthClient

// GetClientOAuthSettings returns the OAuth settings of service client id
// (the account id).
func (s *Service) GetClientOAuthSettings(ctx context.Context, id string) (OAuthClient, error) {
	c, err := s.store.OAuthClientByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return OAuthClient{}, errs.New(errs.NotFound, "no such service client")
	}
	if err != nil {
		return OAuthClient{}, errs.Wrap(errs.Internal, err, "could not read the service client")
	}
	return c, nil
}

// SetClientOAuthSettings replaces the OAuth settings of service client id,
// audited in the same transaction. Making a client public removes its
// secret.
func (s *Service) SetClientOAuthSettings(ctx context.Context, id string, in store.OAuthClientSettings) (OAuthClient, error) {
	if id == "" {
		return OAuthClient{}, errs.New(errs.InvalidArgument, "id is required")
	}
	set, err := checkOAuthSettings(in)
	if err != nil {
		return OAuthClient{}, err
	}
	actx := audited(ctx)
	c, err := s.store.SetOAuthClient(actx, id, func(c *store.OAuthClient) error {
		c.OAuthClientSettings = set
		detail := map[string]string{
			"redirect_uris":             strings.Join(set.RedirectURIs, " "),
			"post_logout_redirect_uris": strings.Join(set.PostLogoutRedirectURIs, " "),
			"grant_types":               strings.Join(set.GrantTypes, " "),
			"public":                    strconv.FormatBool(set.Public),
			"first_party":               strconv.FormatBool(set.FirstParty),
			"id_token_alg":              set.IDTokenAlg,
		}
		if set.Public && c.HasSecret {
			detail["secret_removed"] = "true"
		}
		store.AddAudit(actx, store.AuditEvent{Type: auditOAuthSettingsSet, Target: c.AccountID, TargetName: c.ClientID, Detail: detail})
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return OAuthClient{}, errs.New(errs.NotFound, "no such service client")
	}
	if err != nil {
		return OAuthClient{}, errs.Wrap(errs.Internal, err, "could not store the OAuth settings")
	}
	s.syncView(ctx)
	if slices.Contains(c.GrantTypes, GrantAuthorizationCode) {
		// Published from now on, before the client's first ID token; if
		// that fails (no `serve` yet), the first ID token starts it.
		if err := s.ensureIDTokenKey(ctx); err != nil {
			s.log.Warn("could not start the ID token signing key yet", "err", err)
		}
	}
	return c, nil
}

// oauthClient returns the active service client with client_id id for the
// authorization and logout endpoints; unknown and disabled clients are
// NotFound.
func (s *Service) oauthClient(ctx context.Context, id string) (store.OAuthClient, error) {
	if id == "" {
		return store.OAuthClient{}, errs.New(errs.InvalidArgument, "client_id is required").WithOAuth("invalid_request")
	}
	c, err := s.store.OAuthClientByClientID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !c.Active) {
		return store.OAuthClient{}, errs.New(errs.NotFound, "unknown client %q", truncate(id)).WithOAuth("invalid_client")
	}
	if err != nil {
		return store.OAuthClient{}, errs.Wrap(errs.Internal, err, "could not read the client")
	}
	return c, nil
}

// allowsGrant reports whether a client may use grant g: an empty list
// allows every grant but authorization_code (clients made before OIDC).
func allowsGrant(c store.OAuthClient, g string) bool {
	if len(c.GrantTypes) == 0 {
		return g != GrantAuthorizationCode
	}
	return slices.Contains(c.GrantTypes, g)
}

// authenticateOAuthClient authenticates a confidential client by its secret,
// or accepts a public client by its client_id alone.
func (s *Service) authenticateOAuthClient(ctx context.Context, id, secret, ip string) (store.OAuthClient, error) {
	if secret != "" {
		acct, err := s.authenticateClient(ctx, id, secret, ip)
		if err != nil {
			return store.OAuthClient{}, err
		}
		c, err := s.store.OAuthClientByID(ctx, acct.ID)
		if err != nil {
			return store.OAuthClient{}, errs.Wrap(errs.Internal, err, "could not read the client")
		}
		return c, nil
	}
	c, err := s.oauthClient(ctx, id)
	if err != nil || !c.Public {
		return store.OAuthClient{}, errs.New(errs.Unauthenticated, "client authentication failed").WithOAuth("invalid_client")
	}
	return c, nil
}

// IsPublicClient reports whether id names an active public client, which
// authenticates with its client_id alone.
func (s *Service) IsPublicClient(ctx context.Context, id string) bool {
	c, err := s.oauthClient(ctx, id)
	return err == nil && c.Public
}

// checkPublicRefreshClient is checkRefreshClient for a public client, which
// names itself by client_id alone (RFC 6749 §6).
func (s *Service) checkPublicRefreshClient(ctx context.Context, tokenClient string, req TokenRequest) error {
	c, err := s.authenticateOAuthClient(ctx, req.ClientID, "", req.ClientIP)
	if err != nil {
		return err
	}
	if c.ClientID != tokenClient {
		return errs.New(errs.Unauthenticated, "the refresh token was issued to another client").WithOAuth("invalid_grant")
	}
	if !allowsGrant(c, GrantRefreshToken) {
		return errs.New(errs.PermissionDenied, "client %q may not use the refresh_token grant", truncate(c.ClientID)).WithOAuth("unauthorized_client")
	}
	return nil
}
