package httpapi

// GET /.well-known/openid-configuration: the server metadata of OpenID
// Connect Discovery 1.0 §3, which is also RFC 8414 §2 metadata. gatehouse is
// an OAuth 2.0 authorization server without an authorization endpoint and
// without ID tokens, so the document claims only what the server does:
// stock clients (go-oidc's NewProvider/Verifier among them) can find the
// token, revocation and introspection endpoints and the JWKS, and verify
// gatehouse's access tokens with the algorithms listed here.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/service/core"
)

// discoveryDocument is the metadata. Every member is always present.
type discoveryDocument struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	TokenEndpoint         string `json:"token_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`

	GrantTypesSupported []string `json:"grant_types_supported"`
	// ResponseTypesSupported is REQUIRED by RFC 8414 §2 and OIDC Discovery
	// §3, and lists the response_type values of the authorization endpoint.
	// gatehouse has no authorization endpoint (RFC 8414 §2 lets it be left
	// out when no grant uses it), so it supports no response type: the
	// member is present and empty. ["token"] would announce the implicit
	// grant, which needs that endpoint. go-oidc does not read the member;
	// Nimbus (Spring) accepts an empty array.
	ResponseTypesSupported []string `json:"response_types_supported"`

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
	// IDTokenSigningAlgValuesSupported: gatehouse issues no ID tokens, but
	// OIDC verifiers (go-oidc's Provider.Verifier) take this list as the
	// algorithms they accept on the JWTs of this issuer, and fall back to
	// RS256 alone without it. It lists the algorithms of the published keys
	// that validation accepts, computed per request so that a key of another
	// algorithm, published ahead of its use by key rotation, is announced
	// before it signs. OIDC Discovery's "RS256 MUST be included" is not
	// followed: gatehouse does not claim an algorithm it has no key for.
	// token_endpoint_auth_signing_alg_values_supported is left out: it
	// belongs to private_key_jwt and client_secret_jwt, which gatehouse
	// does not accept.
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
}

// claimsSupported are the claims gatehouse's access tokens can carry
// (README "Tokens").
var claimsSupported = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "roles", "sid", "preferred_username", "email"}

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
	var algs []string
	for _, k := range h.core.PublicKeys() {
		if k.Alg != "" && slices.Contains(cfg.AllowedAlgs, k.Alg) && !slices.Contains(algs, k.Alg) {
			algs = append(algs, k.Alg)
		}
	}
	if algs == nil {
		algs = []string{}
	}
	scopes := slices.Clone(cfg.Scopes)
	if scopes == nil {
		scopes = []string{}
	}
	return discoveryDocument{
		Issuer:                 cfg.Issuer,
		JWKSURI:                base + "/.well-known/jwks.json",
		TokenEndpoint:          base + "/oauth2/token",
		IntrospectionEndpoint:  base + "/oauth2/introspect",
		RevocationEndpoint:     base + "/oauth2/revoke",
		GrantTypesSupported:    []string{core.GrantPassword, core.GrantClientCredentials, core.GrantRefreshToken},
		ResponseTypesSupported: []string{},

		TokenEndpointAuthMethodsSupported:         []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethodsSupported:    []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "Bearer"},

		ScopesSupported:                  scopes,
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: algs,
		ClaimsSupported:                  claimsSupported,
	}
}
