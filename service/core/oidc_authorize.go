package core

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/store"
)

// Authorization codes (RFC 6749 §4.1.2): single-use, short-lived, stored
// as a keyed hash only.
const (
	AuthorizationCodePrefix = "ghac_"
	authorizationCodeTTL    = 60 * time.Second
	// codeRetention keeps a redeemed or expired code long enough to
	// recognise a late replay, then pruning removes it.
	codeRetention = 24 * time.Hour
	scopeOpenID   = "openid"
)

// AuthorizeRequest holds the parameters of GET /oauth2/authorize.
type AuthorizeRequest struct {
	ResponseType, ClientID, RedirectURI, Scope, State, Nonce string
	CodeChallenge, CodeChallengeMethod, Prompt, MaxAge       string
	// Request and RequestURI are OIDC request objects, which are refused.
	Request, RequestURI string
}

// Authorization is a checked authorization request. RedirectURI is set
// once the client and the redirect URI are known to be valid: only then may
// an error be sent to it (RFC 6749 §4.1.2.1).
type Authorization struct {
	ClientID, RedirectURI, State, Nonce, CodeChallenge string
	Scopes                                             []string
	// Login: the user must enter the password now (prompt=login); None:
	// the user must not be asked at all (prompt=none).
	Login, None bool
	// MaxAge is max_age in seconds, -1 when not given.
	MaxAge int64
}

func authzError(code, format string, args ...any) *errs.Error {
	return errs.New(errs.InvalidArgument, format, args...).WithOAuth(code)
}

// CheckAuthorization validates an authorization request. When the error
// comes back with a.RedirectURI empty, the client or redirect URI is invalid
// and the caller must show the error and never redirect.
func (s *Service) CheckAuthorization(ctx context.Context, req AuthorizeRequest) (Authorization, error) {
	var a Authorization
	client, err := s.oauthClient(ctx, req.ClientID)
	if err != nil {
		return a, err
	}
	if req.RedirectURI == "" {
		return a, authzError("invalid_request", "redirect_uri is required")
	}
	if !slices.Contains(client.RedirectURIs, req.RedirectURI) {
		return a, authzError("invalid_request", "redirect_uri is not registered for client %q", truncate(client.ClientID))
	}
	a.ClientID, a.RedirectURI, a.State, a.Nonce, a.MaxAge = client.ClientID, req.RedirectURI, req.State, req.Nonce, -1
	switch {
	case req.Request != "":
		return a, authzError("request_not_supported", "request objects are not supported")
	case req.RequestURI != "":
		return a, authzError("request_uri_not_supported", "request_uri is not supported")
	case req.ResponseType == "":
		return a, authzError("invalid_request", "response_type is required")
	case req.ResponseType != "code":
		return a, authzError("unsupported_response_type", "only response_type=code is supported")
	case !allowsGrant(client, GrantAuthorizationCode):
		return a, authzError("unauthorized_client", "client %q may not use the authorization code flow", truncate(client.ClientID))
	}
	if a.Scopes, err = s.parseScope(req.Scope); err != nil {
		return a, err
	}
	if err := checkChallenge(client, req); err != nil {
		return a, err
	}
	a.CodeChallenge = req.CodeChallenge
	if len(req.Nonce) > 512 {
		return a, authzError("invalid_request", "nonce is longer than 512 characters")
	}
	for p := range strings.FieldsSeq(req.Prompt) {
		switch p {
		case "none":
			a.None = true
		case "login":
			a.Login = true
		case "consent", "select_account":
			// Nothing to ask: consent is implied for first-party clients
			// (the only ones served) and a browser has one account.
		default:
			return a, authzError("invalid_request", "prompt %q is not supported", truncate(p))
		}
	}
	if a.None && strings.TrimSpace(req.Prompt) != "none" {
		return a, authzError("invalid_request", "prompt=none cannot be combined with other values")
	}
	if req.MaxAge != "" {
		n, err := strconv.ParseInt(req.MaxAge, 10, 64)
		if err != nil || n < 0 {
			return a, authzError("invalid_request", "max_age must be a non-negative integer")
		}
		a.MaxAge = n
	}
	if !client.FirstParty {
		// gatehouse has no consent page: only first-party clients, whose
		// consent is implied, are served.
		return a, authzError("consent_required", "client %q is not first-party, and this server has no consent page", truncate(client.ClientID))
	}
	return a, nil
}

// checkChallenge enforces RFC 7636: S256 only, required for public clients.
func checkChallenge(c store.OAuthClient, req AuthorizeRequest) error {
	switch {
	case req.CodeChallenge == "" && req.CodeChallengeMethod != "":
		return authzError("invalid_request", "code_challenge_method without code_challenge")
	case req.CodeChallenge == "" && c.Public:
		return authzError("invalid_request", "a public client must use PKCE (code_challenge with code_challenge_method=S256)")
	case req.CodeChallenge == "":
		return nil
	case req.CodeChallengeMethod != "S256":
		return authzError("invalid_request", "code_challenge_method must be S256")
	case len(req.CodeChallenge) != 43 || !isBase64URL(req.CodeChallenge):
		return authzError("invalid_request", "code_challenge must be 43 base64url characters (RFC 7636 §4.2)")
	}
	return nil
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NeedsLogin reports whether a session is too old for a's max_age.
func (s *Service) NeedsLogin(a Authorization, sess BrowserSession) bool {
	return a.MaxAge >= 0 && s.now().Sub(sess.AuthTime) > time.Duration(a.MaxAge)*time.Second
}

// IssueAuthorizationCode stores a code for a in the browser session sess.
func (s *Service) IssueAuthorizationCode(ctx context.Context, a Authorization, sess BrowserSession) (string, error) {
	if s.view.SessionRevoked(sess.ID) {
		return "", authzError("login_required", "the session has ended")
	}
	code, err := secrets.RandomToken(AuthorizationCodePrefix)
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "could not make an authorization code")
	}
	now := s.now().UTC()
	err = s.store.CreateAuthorizationCode(ctx, store.AuthorizationCode{
		ID: uuid.NewString(), CodeHash: s.secrets.Hash(code), ClientID: a.ClientID, AccountID: sess.AccountID,
		RedirectURI: a.RedirectURI, Scope: strings.Join(a.Scopes, " "), Nonce: a.Nonce, CodeChallenge: a.CodeChallenge,
		SessionID: sess.ID, AuthTime: sess.AuthTime.UTC(), CreatedAt: now, ExpiresAt: now.Add(authorizationCodeTTL),
	})
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "could not store the authorization code")
	}
	return code, nil
}

// PruneAuthorizationCodes removes codes past their retention.
func (s *Service) PruneAuthorizationCodes(ctx context.Context) (int, error) {
	return s.store.PruneAuthorizationCodes(ctx, s.now().UTC().Add(-codeRetention))
}
