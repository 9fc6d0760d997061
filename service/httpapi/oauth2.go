package httpapi

// The RFC OAuth 2.0 endpoints, calling the core directly:
//
//	POST /oauth2/token       RFC 6749 §3.2, §4.3, §4.4, §6, errors §5.2
//	POST /oauth2/revoke      RFC 7009
//	POST /oauth2/introspect  RFC 7662
//
// All three take an application/x-www-form-urlencoded body only, refuse
// parameters in the URL query and repeated parameters, and answer errors as
// RFC 6749 §5.2 JSON ({"error", "error_description"}). oauthErrorOf is the
// one place where core errors become OAuth error codes and HTTP statuses.

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

// maxFormParams bounds the parameters of one OAuth request; real requests
// have fewer than ten.
const maxFormParams = 100

// basicChallenge is the RFC 6749 §5.2 / RFC 7617 challenge of a 401 from
// the token and revocation endpoints.
const basicChallenge = `Basic realm="gatehouse"`

// oauthErrorOf is the one mapping from core errors to RFC 6749 §5.2 error
// codes and HTTP statuses (statusFor is its REST counterpart). The core's
// OAuthCode wins; without one the kind decides. invalid_client is 401,
// rate limiting 429, outages 503 and internal errors 500 (with the generic
// code server_error); every other OAuth error is 400.
func oauthErrorOf(e *errs.Error) (code string, status int) {
	switch e.Kind {
	case errs.Internal:
		return "server_error", statusFor(e.Kind)
	case errs.Unavailable:
		return "temporarily_unavailable", statusFor(e.Kind)
	}
	code = e.OAuthCode
	if code == "" {
		switch e.Kind {
		case errs.Unauthenticated:
			code = "invalid_grant"
		case errs.PermissionDenied:
			code = "unauthorized_client"
		default:
			code = "invalid_request"
		}
	}
	switch {
	case e.Kind == errs.ResourceExhausted:
		return code, statusFor(e.Kind)
	case code == "invalid_client":
		return code, http.StatusUnauthorized
	}
	return code, http.StatusBadRequest
}

// oauthErrorBody is RFC 6749 §5.2.
type oauthErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// oauthError writes err as RFC 6749 §5.2 JSON. A 401 carries challenges
// (default: HTTP Basic), a 429 and a 503 (temporarily_unavailable, RFC 6749
// §4.1.2.1) Retry-After. Internal errors are logged and answered generically.
func (h *handlers) oauthError(w http.ResponseWriter, r *http.Request, err error, challenges ...string) {
	e := errs.Public(err)
	code, status := oauthErrorOf(e)
	desc := e.Message
	if status >= http.StatusInternalServerError {
		if !errors.Is(err, context.Canceled) {
			h.log.ErrorContext(r.Context(), "oauth2 endpoint failed", "path", r.URL.Path, "err", err)
		}
		desc = "internal error"
		if e.Kind == errs.Unavailable {
			desc = "temporarily unavailable; try again later"
		}
	}
	if status == http.StatusUnauthorized {
		if len(challenges) == 0 {
			challenges = []string{basicChallenge}
		}
		for _, c := range challenges {
			w.Header().Add("WWW-Authenticate", c)
		}
	}
	setRetryAfter(w, e.RetryAfter)
	noStore(w)
	writeJSON(w, status, oauthErrorBody{Error: code, Description: oauthDescription(desc)})
}

// oauthDescription keeps error_description within the characters RFC 6749
// §5.2 allows (%x20-21 / %x23-5B / %x5D-7E).
func oauthDescription(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\':
			return '/'
		case r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, s)
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func invalidRequest(format string, args ...any) *errs.Error {
	return errs.New(errs.InvalidArgument, format, args...).WithOAuth("invalid_request")
}

func invalidClient(format string, args ...any) *errs.Error {
	return errs.New(errs.Unauthenticated, format, args...).WithOAuth("invalid_client")
}

// parseOAuthForm reads the parameters of an OAuth request: the URL query
// must be empty, the body application/x-www-form-urlencoded (UTF-8).
// Every failure is invalid_request.
func parseOAuthForm(r *http.Request) (map[string]string, error) {
	form, _, err := parseOAuthFormMulti(r)
	return form, err
}

// parseOAuthFormMulti is parseOAuthForm for a request where the parameters
// named by multi may be repeated (RFC 8707 `resource`); their values come
// back in the second map, in order.
func parseOAuthFormMulti(r *http.Request, multi ...string) (map[string]string, map[string][]string, error) {
	if r.URL.RawQuery != "" {
		return nil, nil, invalidRequest("parameters must be sent in the request body, not in the URL query")
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, nil, invalidRequest("the body must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return nil, nil, invalidRequest("charset %q is not supported; send UTF-8", truncateParam(cs))
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, nil, invalidRequest("the body is larger than %d bytes", tooLarge.Limit)
		}
		return nil, nil, errs.Wrap(errs.InvalidArgument, err, "the body could not be read").WithOAuth("invalid_request")
	}
	return parseFormMulti(string(body), multi...)
}

// parseForm decodes an application/x-www-form-urlencoded string (pairs
// separated by '&', '+' for a space, percent-encoding). A parameter without
// a value counts as omitted (RFC 6749 §3.2); a parameter given twice,
// malformed percent-encoding and bytes that are not UTF-8 are refused with
// invalid_request.
func parseForm(body string) (map[string]string, error) {
	form, _, err := parseFormMulti(body)
	return form, err
}

// parseFormMulti is parseForm where the parameters named by multi may be
// repeated; their values are returned in the second map, in order.
func parseFormMulti(body string, multi ...string) (map[string]string, map[string][]string, error) {
	form := make(map[string]string)
	repeated := make(map[string][]string)
	n := 0
	for pair := range strings.SplitSeq(body, "&") {
		if pair == "" {
			continue
		}
		if n++; n > maxFormParams {
			return nil, nil, invalidRequest("the body holds more than %d parameters", maxFormParams)
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, nil, invalidRequest("a parameter name has malformed percent-encoding")
		}
		if !utf8.ValidString(name) {
			return nil, nil, invalidRequest("a parameter name is not valid UTF-8")
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, nil, invalidRequest("parameter %q has malformed percent-encoding", truncateParam(name))
		}
		if !utf8.ValidString(value) {
			return nil, nil, invalidRequest("parameter %q is not valid UTF-8", truncateParam(name))
		}
		if value == "" {
			continue
		}
		if slices.Contains(multi, name) {
			repeated[name] = append(repeated[name], value)
			continue
		}
		if _, dup := form[name]; dup {
			return nil, nil, invalidRequest("parameter %q is repeated", truncateParam(name))
		}
		form[name] = value
	}
	return form, repeated, nil
}

// truncateParam shortens caller input echoed in an error description.
func truncateParam(s string) string {
	const max = 40
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	return s
}

// clientCreds is how an OAuth request authenticated its client: id and
// secret (from HTTP Basic or the body), a bearer token (introspection only),
// or nothing (the public default client).
type clientCreds struct {
	id, secret string
	basic      bool
	bearer     string
}

// clientAuth reads the client authentication of an OAuth request: HTTP
// Basic with form-urlencoded id and secret (RFC 6749 §2.3.1,
// client_secret_basic), client_id and client_secret in the body
// (client_secret_post), or, when allowBearer, a bearer token. Two methods at
// once are invalid_request. A client_id without a secret is the public
// default client when it names it, and invalid_client otherwise.
func (h *handlers) clientAuth(r *http.Request, form map[string]string, allowBearer bool) (clientCreds, error) {
	var c clientCreds
	authz := r.Header.Values("Authorization")
	if len(authz) > 1 {
		return c, invalidRequest("more than one Authorization header")
	}
	if len(authz) == 1 {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(authz[0]), " ")
		rest = strings.TrimSpace(rest)
		switch {
		case strings.EqualFold(scheme, "Basic"):
			id, secret, err := parseBasic(rest)
			if err != nil {
				return c, err
			}
			// "Basic Og==" (empty id and secret, as stock clients send for
			// a public client without id) is no authentication at all.
			c.id, c.secret, c.basic = id, secret, id != "" || secret != ""
		case allowBearer && strings.EqualFold(scheme, "Bearer"):
			if rest == "" {
				return c, invalidClient("the bearer token is empty")
			}
			c.bearer = rest
		default:
			return c, invalidClient("unsupported client authentication method; use HTTP Basic or client_id and client_secret in the body")
		}
	}
	formID, hasID := form["client_id"]
	_, hasSecret := form["client_secret"]
	switch {
	case c.bearer != "":
		if hasID || hasSecret {
			return c, invalidRequest("the client authenticated both with a bearer token and with client_id/client_secret in the body")
		}
		return c, nil
	case c.basic:
		if hasSecret {
			return c, invalidRequest("the client authenticated both with HTTP Basic and with client_secret in the body")
		}
		if hasID && formID != c.id {
			return c, invalidRequest("client_id in the body differs from the HTTP Basic client id")
		}
	default:
		if hasSecret && !hasID {
			return c, invalidRequest("client_secret requires client_id")
		}
		c.id, c.secret = formID, form["client_secret"]
	}
	if c.secret == "" && c.id != "" {
		if c.id != h.core.Config().DefaultClientID {
			return c, invalidClient("client %q must authenticate with its secret", truncateParam(c.id))
		}
		c.id = "" // the public default client needs no authentication
	}
	if c.id == "" && c.secret != "" {
		return c, invalidClient("the client id is empty")
	}
	return c, nil
}

// tokenClientAuth is clientAuth for the token endpoint, which also takes a
// public OIDC client (token_endpoint_auth_method none): client_id alone in
// the body, no Authorization header.
func (h *handlers) tokenClientAuth(r *http.Request, form map[string]string) (clientCreds, error) {
	id, hasID := form["client_id"]
	_, hasSecret := form["client_secret"]
	if hasID && !hasSecret && len(r.Header.Values("Authorization")) == 0 &&
		id != h.core.Config().DefaultClientID && h.core.IsPublicClient(r.Context(), id) {
		return clientCreds{id: id}, nil
	}
	return h.clientAuth(r, form, false)
}

// parseBasic decodes HTTP Basic credentials (RFC 7617) whose parts are
// form-urlencoded as RFC 6749 §2.3.1 asks. Malformed credentials are a
// failed client authentication.
func parseBasic(b64 string) (id, secret string, err error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(b64); err != nil {
			return "", "", invalidClient("the HTTP Basic credentials are not valid base64")
		}
	}
	rawID, rawSecret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", invalidClient("the HTTP Basic credentials lack a ':'")
	}
	if id, err = url.QueryUnescape(rawID); err == nil {
		secret, err = url.QueryUnescape(rawSecret)
	}
	if err != nil {
		return "", "", invalidClient("the HTTP Basic credentials have malformed percent-encoding")
	}
	if !utf8.ValidString(id) || !utf8.ValidString(secret) {
		return "", "", invalidClient("the HTTP Basic credentials are not valid UTF-8")
	}
	return id, secret, nil
}

// tokenResponse is RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// IssuedTokenType answers a token exchange (RFC 8693 §2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	// IDToken answers the authorization code grant with scope openid.
	IDToken string `json:"id_token,omitempty"`
}

// oauthToken is POST /oauth2/token: the password, client_credentials and
// refresh_token grants.
func (h *handlers) oauthToken(w http.ResponseWriter, r *http.Request) {
	// RFC 8707 §2: `resource` may be given more than once.
	form, repeated, err := parseOAuthFormMulti(r, "resource")
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	client, err := h.tokenClientAuth(r, form)
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	if g := form["grant_type"]; (g == core.GrantClientCredentials || g == core.GrantTokenExchange) && client.id == "" {
		h.oauthError(w, r, invalidClient("the %s grant requires client authentication", g))
		return
	}
	res, err := h.core.IssueToken(r.Context(), core.TokenRequest{
		GrantType:          form["grant_type"],
		Username:           form["username"],
		Password:           form["password"],
		ClientID:           client.id,
		ClientSecret:       client.secret,
		Scope:              form["scope"],
		RefreshToken:       form["refresh_token"],
		SubjectToken:       form["subject_token"],
		SubjectTokenType:   form["subject_token_type"],
		Audience:           form["audience"],
		Resources:          repeated["resource"],
		RequestedTokenType: form["requested_token_type"],
		ActorToken:         form["actor_token"],
		ClientIP:           h.clientIP(r),
		Code:               form["code"],
		RedirectURI:        form["redirect_uri"],
		CodeVerifier:       form["code_verifier"],
	})
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	if res.TokenType == "" {
		res.TokenType = "Bearer"
	}
	noStore(w)
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:     res.AccessToken,
		TokenType:       res.TokenType,
		ExpiresIn:       res.ExpiresIn,
		RefreshToken:    res.RefreshToken,
		Scope:           res.Scope,
		IssuedTokenType: res.IssuedTokenType,
		IDToken:         res.IDToken,
	})
}

// oauthRevoke is POST /oauth2/revoke (RFC 7009): 200 with an empty body,
// also for tokens that are unknown or already invalid. Clients
// authenticate as at the token endpoint, a public client by its client_id
// alone (RFC 7009 section 2.1).
func (h *handlers) oauthRevoke(w http.ResponseWriter, r *http.Request) {
	form, err := parseOAuthForm(r)
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	client, err := h.tokenClientAuth(r, form)
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	err = h.core.RevokeToken(r.Context(), core.RevokeRequest{
		Token:         form["token"],
		TokenTypeHint: form["token_type_hint"],
		ClientID:      client.id,
		ClientSecret:  client.secret,
		ClientIP:      h.clientIP(r),
	})
	if err != nil {
		h.oauthError(w, r, err)
		return
	}
	noStore(w)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// introspectionResponse is RFC 7662 §2.2, with gatehouse's roles and the
// session id (sid) as extensions. Empty members are left out, so an
// inactive token is exactly {"active":false}.
type introspectionResponse struct {
	Active   bool   `json:"active"`
	Scope    string `json:"scope,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Username string `json:"username,omitempty"`
	// TokenType is the RFC 6749 §5.1 type ("Bearer") of access tokens;
	// TokenUse says which kind of token this is (as Ory Hydra does).
	TokenType string   `json:"token_type,omitempty"`
	TokenUse  string   `json:"token_use,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       any      `json:"aud,omitempty"` // a string when single, else an array
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	Roles     []string `json:"roles,omitempty"`
	SID       string   `json:"sid,omitempty"`
}

// introspectChallenges are the 401 challenges of the introspection endpoint,
// which takes client credentials or a service client's bearer token.
func introspectChallenges(bearerError string) []string {
	bearer := `Bearer realm="gatehouse"`
	if bearerError != "" {
		bearer += `, error="` + bearerError + `"`
	}
	return []string{basicChallenge, bearer}
}

// oauthIntrospect is POST /oauth2/introspect (RFC 7662). The caller must be
// a service client, authenticated by its id and secret or by its bearer
// token; any other bearer (a user's) gets 401 as RFC 7662 §2.3 asks.
func (h *handlers) oauthIntrospect(w http.ResponseWriter, r *http.Request) {
	form, err := parseOAuthForm(r)
	if err != nil {
		h.oauthError(w, r, err, introspectChallenges("")...)
		return
	}
	creds, err := h.clientAuth(r, form, true)
	if err != nil {
		h.oauthError(w, r, err, introspectChallenges("")...)
		return
	}
	ctx := r.Context()
	var client store.Account
	switch {
	case creds.bearer != "":
		p, err := h.core.Caller(ctx, creds.bearer)
		if err != nil {
			if errs.KindOf(err) != errs.Internal {
				err = errs.Wrap(errs.Unauthenticated, err, "%s", errs.As(err).Message).WithOAuth("invalid_client")
			}
			h.oauthError(w, r, err, introspectChallenges("invalid_token")...)
			return
		}
		client, err = h.core.ServiceClientOf(ctx, p)
		if err != nil {
			if k := errs.KindOf(err); k == errs.PermissionDenied || k == errs.NotFound {
				err = errs.Wrap(errs.Unauthenticated, err, "only service clients may introspect tokens").WithOAuth("invalid_client")
			}
			h.oauthError(w, r, err, introspectChallenges("insufficient_scope")...)
			return
		}
	case creds.id != "":
		client, err = h.core.AuthenticateClient(ctx, creds.id, creds.secret, h.clientIP(r))
		if err != nil {
			h.oauthError(w, r, err, introspectChallenges("")...)
			return
		}
	default:
		h.oauthError(w, r, invalidClient("introspection requires client authentication"), introspectChallenges("")...)
		return
	}
	in, err := h.core.Introspect(ctx, client, form["token"])
	if err != nil {
		h.oauthError(w, r, err, introspectChallenges("")...)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, introspection(in))
}

func introspection(in core.Introspection) introspectionResponse {
	if !in.Active {
		return introspectionResponse{}
	}
	out := introspectionResponse{
		Active: true, Scope: in.Scope, ClientID: in.ClientID, Username: in.Username, TokenUse: in.TokenType,
		Exp: in.ExpiresAt, Iat: in.IssuedAt, Nbf: in.NotBefore, Sub: in.Subject, Iss: in.Issuer, JTI: in.JTI,
		Roles: in.Roles, SID: in.SessionID,
	}
	if in.TokenType == "access_token" {
		out.TokenType = "Bearer"
	}
	switch len(in.Audience) {
	case 0:
	case 1:
		out.Aud = in.Audience[0]
	default:
		out.Aud = in.Audience
	}
	return out
}
