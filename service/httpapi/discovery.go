package httpapi

// GET /.well-known/openid-configuration: the server metadata of OpenID
// Connect Discovery 1.0 §3, which is also RFC 8414 §2 metadata: the
// authorization code flow with PKCE (authorize.go), the token, userinfo,
// revocation, introspection and end-session endpoints, and the JWKS. The
// document claims only what the server does.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/jose"
)

// discoveryDocument is the metadata. Every member is always present.
type discoveryDocument struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	TokenEndpoint         string `json:"token_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
	EndSessionEndpoint    string `json:"end_session_endpoint"`

	GrantTypesSupported []string `json:"grant_types_supported"`
	// ResponseTypesSupported: the code flow only (no implicit or hybrid).
	ResponseTypesSupported []string `json:"response_types_supported"`
	// ResponseModesSupported: the code and errors come in the query.
	ResponseModesSupported []string `json:"response_modes_supported"`
	// CodeChallengeMethodsSupported: RFC 7636 S256 only; plain is refused.
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	// AuthorizationResponseIssParameterSupported: RFC 9207 iss is sent
	// with every authorization response.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
	// PromptValuesSupported (OIDC Prompt Create draft / Discovery 1.0
	// errata): the prompt values the authorization endpoint understands.
	PromptValuesSupported []string `json:"prompt_values_supported"`
	// RequestParameterSupported and RequestURIParameterSupported: request
	// objects are refused (OIDC Discovery defaults the latter to true).
	RequestParameterSupported    bool `json:"request_parameter_supported"`
	RequestURIParameterSupported bool `json:"request_uri_parameter_supported"`

	// Client authentication (values from the IANA "OAuth Token Endpoint
	// Authentication Methods" registry), as clientAuth accepts it: HTTP
	// Basic, client_id/client_secret in the body, and no authentication at
	// all for the public default client (password and refresh grants;
	// revocation by the holder of a token). Introspection needs a service
	// client, by its secret or by its bearer access token; RFC 8414 §2 takes
	// the latter from the "OAuth Access Token Types" registry ("Bearer").
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`

	ScopesSupported []string `json:"scopes_supported"`
	// SubjectTypesSupported: `sub` is the account id, the same for every
	// client (OIDC Core §8 "public").
	SubjectTypesSupported []string `json:"subject_types_supported"`
	// IDTokenSigningAlgValuesSupported: RS256 (OIDC requires it; the
	// RS256 ID-token key signs ID tokens unless the client registered
	// another id_token_signed_response_alg) and the algorithms of the
	// published access-token keys that validation accepts, computed per
	// request so that a key published ahead of its use by rotation is
	// announced before it signs. OIDC verifiers (go-oidc's
	// Provider.Verifier) take this list as the algorithms they accept on
	// the JWTs of this issuer. token_endpoint_auth_signing_alg_values_supported
	// is left out: it belongs to private_key_jwt and client_secret_jwt,
	// which gatehouse does not accept.
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
	// ClaimsParameterSupported: the OIDC claims request parameter is not
	// read.
	ClaimsParameterSupported bool `json:"claims_parameter_supported"`
}

// claimsSupported are the claims gatehouse's access tokens can carry
// (README "Tokens").
var claimsSupported = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "roles", "sid",
	"auth_time", "nonce", "at_hash", "azp", "name", "preferred_username", "email", "email_verified"}

// discovery serves the metadata from memory, with the JWKS's Cache-Control.
func (h *handlers) discovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(h.opts.JWKSMaxAge/time.Second)))
	writeJSON(w, http.StatusOK, h.discoveryDocument())
}

func (h *handlers) discoveryDocument() discoveryDocument {
	cfg := h.core.Config()
	// The issuer is echoed exactly (clients compare it byte for byte with
	// the URL they were given and with `iss`); endpoints are joined to it
	// without a double slash.
	base := strings.TrimRight(cfg.Issuer, "/")
	algs := []string{jose.RS256}
	for _, k := range h.core.PublicKeys() {
		if k.Alg != "" && slices.Contains(cfg.AllowedAlgs, k.Alg) && !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	scopes := slices.Clone(cfg.Scopes)
	if scopes == nil {
		scopes = []string{}
	}
	return discoveryDocument{
		Issuer:                cfg.Issuer,
		JWKSURI:               base + "/.well-known/jwks.json",
		TokenEndpoint:         base + "/oauth2/token",
		IntrospectionEndpoint: base + "/oauth2/introspect",
		RevocationEndpoint:    base + "/oauth2/revoke",
		AuthorizationEndpoint: base + "/oauth2/authorize",
		UserinfoEndpoint:      base + "/oauth2/userinfo",
		EndSessionEndpoint:    base + "/oauth2/logout",
		GrantTypesSupported: []string{core.GrantAuthorizationCode, core.GrantRefreshToken, core.GrantClientCredentials,
			core.GrantPassword, core.GrantTokenExchange},
		ResponseTypesSupported:        []string{"code"},
		ResponseModesSupported:        []string{"query"},
		CodeChallengeMethodsSupported: []string{"S256"},
		PromptValuesSupported:         []string{"none", "login", "consent", "select_account"},

		AuthorizationResponseIssParameterSupported: true,

		TokenEndpointAuthMethodsSupported:         []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethodsSupported:    []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "Bearer"},

		ScopesSupported:                  scopes,
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: algs,
		ClaimsSupported:                  claimsSupported,
	}
}
