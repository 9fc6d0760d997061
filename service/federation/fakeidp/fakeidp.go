// Package fakeidp is a fake Microsoft Entra ID (Azure AD) tenant, usable as
// any OIDC issuer, for tests of gatehouse's federation. It serves the v2.0
// (and v1.0) discovery documents and the tenant's signing keys over HTTP on
// 127.0.0.1 in the shapes Entra ID uses, and mints tokens with Entra-style
// claims — including the malformed and hostile ones an attacker would try.
//
// By default it signs RS256 with 2048-bit RSA keys published without alg,
// as Entra ID does; WithAlgorithm makes it a PS256 or ES384 issuer.
package fakeidp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/gatehouse/gatehouse/service/jose"
)

// Mode selects how the IdP answers discovery and key requests.
type Mode int

const (
	// ModeNormal serves the discovery documents and the keys.
	ModeNormal Mode = iota
	// ModeDown answers every request with 503 Service Unavailable (use
	// Close for "connection refused").
	ModeDown
	// ModeGarbage answers the key endpoint with 200 and a body that is not
	// JSON ("not json").
	ModeGarbage
	// ModeInvalidJWKS answers the key endpoint with 200 and a JSON object
	// that has no "keys" member.
	ModeInvalidJWKS
	// ModeNoUsableKeys answers the key endpoint with a JWKS whose only key
	// is an encryption key (use "enc").
	ModeNoUsableKeys
)

func (m Mode) String() string {
	switch m {
	case ModeNormal:
		return "normal"
	case ModeDown:
		return "down"
	case ModeGarbage:
		return "garbage"
	case ModeInvalidJWKS:
		return "invalid-jwks"
	case ModeNoUsableKeys:
		return "no-usable-keys"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

type config struct {
	tenant   string
	clientID string
	now      func() time.Time
	maxAge   int // seconds; <0: no Cache-Control header
	noETag   bool
	alg      string // signing algorithm: RS256, PS256 or ES384
	jwkAlg   bool   // publish "alg" in the JWKS
}

// Option configures New.
type Option func(*config)

// WithClock makes the IdP use now for iat/nbf/exp and certificate validity.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithTenant sets the tenant id (default: a random GUID).
func WithTenant(tenant string) Option { return func(c *config) { c.tenant = tenant } }

// WithClientID sets the application (client) id used for aud "api://<id>",
// appid and azp (default: a random GUID).
func WithClientID(id string) Option { return func(c *config) { c.clientID = id } }

// WithMaxAge sets the max-age of the key endpoint's Cache-Control header
// (default 86400 s, as Entra ID sends). A negative d sends no Cache-Control.
func WithMaxAge(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.maxAge = -1
			return
		}
		c.maxAge = int(d / time.Second)
	}
}

// WithAlgorithm makes the IdP sign with alg: jose.RS256 (the default) or
// jose.PS256 with 2048-bit RSA keys, or jose.ES384 with P-384 keys. Other
// values fail the test.
func WithAlgorithm(alg string) Option { return func(c *config) { c.alg = alg } }

// WithJWKAlg makes the JWKS name each key's alg (the signing algorithm).
// Without it RSA keys are published without alg, as Entra ID does; EC keys
// imply theirs by the curve.
func WithJWKAlg() Option { return func(c *config) { c.jwkAlg = true } }

// WithoutETag makes the key endpoint send no ETag and ignore If-None-Match.
func WithoutETag() Option { return func(c *config) { c.noETag = true } }

// key is one signing key with its Entra-style kid and certificate.
type key struct {
	kid  string        // base64url SHA-1 of the certificate, also x5t
	priv crypto.Signer // *rsa.PrivateKey or *ecdsa.PrivateKey
	cert []byte        // DER, self-signed
}

// IdP is a running fake identity provider.
type IdP struct {
	t   testing.TB
	srv *httptest.Server
	cfg config

	mu      sync.Mutex
	keys    []*key // keys[0] signs; all are published
	mode    Mode
	maxAge  int
	jwks    []byte // cached body for ModeNormal
	etag    string
	headers map[string]string // extra headers on key responses

	jwksFetches      atomic.Int64
	notModified      atomic.Int64
	discoveryFetches atomic.Int64
	requests         atomic.Int64
}

// New starts a fake IdP on 127.0.0.1 with one RS256 2048-bit key (or one
// key for WithAlgorithm's algorithm). The server is closed by t.Cleanup.
func New(t testing.TB, opts ...Option) *IdP {
	t.Helper()
	cfg := config{now: time.Now, maxAge: 86400, alg: jose.RS256}
	for _, o := range opts {
		o(&cfg)
	}
	switch cfg.alg {
	case jose.RS256, jose.PS256, jose.ES384:
	default:
		t.Fatalf("fakeidp: unsupported algorithm %q", cfg.alg)
	}
	if cfg.tenant == "" {
		cfg.tenant = guid()
	}
	if cfg.clientID == "" {
		cfg.clientID = guid()
	}
	p := &IdP{t: t, cfg: cfg, maxAge: cfg.maxAge}
	k, err := p.newKey()
	if err != nil {
		t.Fatalf("fakeidp: %v", err)
	}
	p.keys = []*key{k}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

// URL is the server's base URL, e.g. http://127.0.0.1:34567.
func (p *IdP) URL() string { return p.srv.URL }

// Tenant is the tenant id (a GUID).
func (p *IdP) Tenant() string { return p.cfg.tenant }

// ClientID is the application id the default audience and appid/azp name.
func (p *IdP) ClientID() string { return p.cfg.clientID }

// Audience is the default aud, "api://<client id>".
func (p *IdP) Audience() string { return "api://" + p.cfg.clientID }

// IssuerV2 is the v2.0 issuer, URL()+"/<tenant>/v2.0"; its discovery
// document is at IssuerV2()+"/.well-known/openid-configuration".
func (p *IdP) IssuerV2() string { return p.srv.URL + "/" + p.cfg.tenant + "/v2.0" }

// IssuerV1 is the v1.0 issuer as Entra ID writes it,
// "https://sts.windows.net/<tenant>/". Nothing is served there: configure
// JWKSURI explicitly for it.
func (p *IdP) IssuerV1() string { return "https://sts.windows.net/" + p.cfg.tenant + "/" }

// JWKSURI is the key endpoint, URL()+"/discovery/v2.0/keys".
func (p *IdP) JWKSURI() string { return p.srv.URL + "/discovery/v2.0/keys" }

// Close stops the server: further requests get "connection refused".
func (p *IdP) Close() { p.srv.Close() }

// SetMode changes how discovery and key requests are answered.
func (p *IdP) SetMode(m Mode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
}

// SetMaxAge changes the key endpoint's Cache-Control max-age (negative: no
// Cache-Control header).
func (p *IdP) SetMaxAge(d time.Duration) {
	p.mu.Lock()
	if d < 0 {
		p.maxAge = -1
	} else {
		p.maxAge = int(d / time.Second)
	}
	p.mu.Unlock()
}

// SetHeader sets (or with an empty value removes) a header on key responses,
// e.g. "Expires".
func (p *IdP) SetHeader(name, value string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.headers == nil {
		p.headers = map[string]string{}
	}
	if value == "" {
		delete(p.headers, name)
	} else {
		p.headers[name] = value
	}
}

// JWKSFetches counts GET requests to the key endpoint (304s included).
func (p *IdP) JWKSFetches() int { return int(p.jwksFetches.Load()) }

// NotModified counts key requests answered 304 Not Modified.
func (p *IdP) NotModified() int { return int(p.notModified.Load()) }

// DiscoveryFetches counts requests for a discovery document.
func (p *IdP) DiscoveryFetches() int { return int(p.discoveryFetches.Load()) }

// Requests counts every request the server received.
func (p *IdP) Requests() int { return int(p.requests.Load()) }

// KID is the kid of the current signing key.
func (p *IdP) KID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[0].kid
}

// KIDs lists the kids of every published key, the signing one first.
func (p *IdP) KIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.keys))
	for i, k := range p.keys {
		out[i] = k.kid
	}
	return out
}

// Alg is the algorithm the IdP signs with.
func (p *IdP) Alg() string { return p.cfg.alg }

// PublicJWK is the current signing key as a JWK with kid, alg and use (for
// embedding it in a token header, as an attacker would). json.Marshal
// encodes it.
func (p *IdP) PublicJWK() jwk.Key {
	p.mu.Lock()
	k := p.keys[0]
	p.mu.Unlock()
	j, err := jose.PublicJWK(jose.PublicKey{KID: k.kid, Alg: p.cfg.alg, Key: k.priv.Public()})
	if err != nil {
		p.t.Fatalf("fakeidp: %v", err)
	}
	return j
}

// PublicJWKJSON is PublicJWK encoded as JSON.
func (p *IdP) PublicJWKJSON() []byte {
	b, err := json.Marshal(p.PublicJWK())
	if err != nil {
		p.t.Fatalf("fakeidp: %v", err)
	}
	return b
}

// CertChain is the current signing key's certificate chain as an x5c
// header or JWK member holds it: standard base64 DER, one self-signed
// certificate.
func (p *IdP) CertChain() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return []string{base64.StdEncoding.EncodeToString(p.keys[0].cert)}
}

// PublicKeyPEM is the current signing key's public half as a PEM "PUBLIC
// KEY" block, the secret of the classic HS256-with-the-public-key attack.
func (p *IdP) PublicKeyPEM() []byte {
	p.mu.Lock()
	k := p.keys[0]
	p.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		p.t.Fatalf("fakeidp: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// RotateKeys makes a new key the signing key. With keepOld the previous keys
// stay published; without, only the new key is.
func (p *IdP) RotateKeys(keepOld bool) {
	k, err := p.newKey()
	if err != nil {
		p.t.Fatalf("fakeidp: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if keepOld {
		p.keys = append([]*key{k}, p.keys...)
	} else {
		p.keys = []*key{k}
	}
	p.jwks, p.etag = nil, ""
}

// newKey generates a key for the IdP's algorithm with a self-signed
// certificate; its kid is the base64url SHA-1 of the certificate, as Entra
// ID's kid and x5t are.
func (p *IdP) newKey() (*key, error) {
	var priv crypto.Signer
	var err error
	if p.cfg.alg == jose.ES384 {
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	} else {
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return nil, err
	}
	now := p.cfg.now()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(cert)
	return &key{kid: base64.RawURLEncoding.EncodeToString(sum[:]), priv: priv, cert: cert}, nil
}

// DefaultClaims returns Entra-style access-token claims for a user, issued
// now by the IdP's clock and valid for an hour. A v1 issuer (IssuerV1 or any
// https://sts.windows.net/ issuer) gets ver "1.0" and appid, any other ver
// "2.0" and azp. An empty aud means "api://<client id>". The map is fresh:
// tests change or delete members freely.
func (p *IdP) DefaultClaims(iss, aud string) map[string]any {
	if aud == "" {
		aud = p.Audience()
	}
	now := p.cfg.now().Unix()
	c := map[string]any{
		"aud":                aud,
		"iss":                iss,
		"iat":                now,
		"nbf":                now,
		"exp":                now + 3600,
		"aio":                "AWQAm/8ZAAAA" + randString(24),
		"name":               "Ada Lovelace",
		"oid":                "5b9c1a0e-8f1d-4c07-9a3e-4d4b1f3a2c11",
		"sub":                "sXjE6ZbVv1y1wW3Kq3o5Qx4d1a7nHj2Q0t8uYcRkLmA",
		"tid":                p.cfg.tenant,
		"email":              "ada@example.com",
		"preferred_username": "ada@example.com",
		"upn":                "ada@example.com",
		"groups":             []string{"b1c0ffee-0000-4000-8000-000000000001"},
		"roles":              []string{"Reader"},
		"scp":                "access_as_user",
		"uti":                randString(22),
		"rh":                 "0.AAAA" + randString(20) + ".",
	}
	if strings.HasPrefix(iss, "https://sts.windows.net/") {
		c["ver"] = "1.0"
		c["appid"] = p.cfg.clientID
		c["appidacr"] = "0"
		c["unique_name"] = "ada@example.com"
		delete(c, "preferred_username")
	} else {
		c["ver"] = "2.0"
		c["azp"] = p.cfg.clientID
		c["azpacr"] = "0"
	}
	return c
}

// AppClaims returns Entra-style claims of an app-only (client credentials)
// token: no user claims, sub = oid, idtyp "app", appid (v1) or azp (v2)
// naming the calling application clientID.
func (p *IdP) AppClaims(iss, aud, clientID string) map[string]any {
	c := p.DefaultClaims(iss, aud)
	for _, k := range []string{"email", "preferred_username", "upn", "unique_name", "name", "scp", "groups"} {
		delete(c, k)
	}
	c["oid"] = "0f0a4b42-6d3e-4c1b-8a55-7e2d9c3b1a00"
	c["sub"] = c["oid"]
	c["idtyp"] = "app"
	c["roles"] = []string{"Service.Call"}
	if _, ok := c["appid"]; ok {
		c["appid"] = clientID
	} else {
		c["azp"] = clientID
	}
	return c
}

// tokenConfig is what TokenOptions change.
type tokenConfig struct {
	kid     *string
	alg     string         // header alg; "" = the signing algorithm's
	sign    string         // the IdP's algorithm, "HS256" or "none"
	secret  []byte         // HS256
	header  map[string]any // extra or overriding members; nil value removes
	signer  crypto.Signer
	badSig  bool
	rawHead []byte
}

// TokenOption changes how Token builds a token.
type TokenOption func(*tokenConfig)

// WithKid sets the header kid (an empty kid leaves the member out).
func WithKid(kid string) TokenOption { return func(c *tokenConfig) { c.kid = &kid } }

// WithAlg writes alg into the header without changing how the token is
// signed (with the IdP's algorithm unless WithHS256 or WithAlgNone).
func WithAlg(alg string) TokenOption { return func(c *tokenConfig) { c.alg = alg } }

// WithHeader sets a header member, e.g. "jku", "jwk", "x5u" or "typ"; a nil
// value removes a member.
func WithHeader(name string, value any) TokenOption {
	return func(c *tokenConfig) {
		if c.header == nil {
			c.header = map[string]any{}
		}
		c.header[name] = value
	}
}

// WithHS256 signs with HMAC-SHA-256 under secret and sets alg HS256.
func WithHS256(secret []byte) TokenOption {
	return func(c *tokenConfig) { c.sign, c.secret = "HS256", secret }
}

// WithAlgNone makes an unsecured token: alg "none" and an empty signature.
func WithAlgNone() TokenOption { return func(c *tokenConfig) { c.sign = "none" } }

// WithBadSignature flips a bit of the signature.
func WithBadSignature() TokenOption { return func(c *tokenConfig) { c.badSig = true } }

// WithRawHeader uses the given bytes as the header JSON verbatim.
func WithRawHeader(h []byte) TokenOption { return func(c *tokenConfig) { c.rawHead = h } }

// Token signs claims with the current key: header {"typ":"JWT","alg":"RS256",
// "x5t":kid,"kid":kid}, as Entra ID writes it (alg is the IdP's
// algorithm), changed by opts.
func (p *IdP) Token(claims map[string]any, opts ...TokenOption) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		p.t.Fatalf("fakeidp: encoding claims: %v", err)
	}
	return p.SignPayload(payload, opts...)
}

// SignPayload is Token for an arbitrary payload (which need not be JSON).
func (p *IdP) SignPayload(payload []byte, opts ...TokenOption) string {
	p.mu.Lock()
	k := p.keys[0]
	p.mu.Unlock()
	c := tokenConfig{sign: p.cfg.alg, signer: k.priv}
	for _, o := range opts {
		o(&c)
	}
	var header []byte
	if c.rawHead != nil {
		header = c.rawHead
	} else {
		kid := k.kid
		if c.kid != nil {
			kid = *c.kid
		}
		alg := c.alg
		if alg == "" {
			alg = c.sign
		}
		// An ordered header, as Entra ID writes it.
		type member struct {
			k string
			v any
		}
		ms := []member{{"typ", "JWT"}, {"alg", alg}}
		if kid != "" {
			ms = append(ms, member{"x5t", kid}, member{"kid", kid})
		}
		for i := range ms {
			if v, ok := c.header[ms[i].k]; ok {
				ms[i].v = v
				delete(c.header, ms[i].k)
			}
		}
		for name, v := range c.header {
			ms = append(ms, member{name, v})
		}
		var b strings.Builder
		b.WriteByte('{')
		first := true
		for _, m := range ms {
			if m.v == nil {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			kj, _ := json.Marshal(m.k)
			vj, err := json.Marshal(m.v)
			if err != nil {
				p.t.Fatalf("fakeidp: encoding header member %s: %v", m.k, err)
			}
			b.Write(kj)
			b.WriteByte(':')
			b.Write(vj)
		}
		b.WriteByte('}')
		header = []byte(b.String())
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	var sig []byte
	switch c.sign {
	case jose.RS256, jose.PS256, jose.ES384:
		s, err := jws.NewSigner(jwa.SignatureAlgorithm(c.sign))
		if err == nil {
			sig, err = s.Sign([]byte(input), c.signer)
		}
		if err != nil {
			p.t.Fatalf("fakeidp: signing: %v", err)
		}
	case "HS256":
		m := hmac.New(sha256.New, c.secret)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case "none":
		return input + "."
	}
	return finish(input, sig, c.badSig)
}

func finish(input string, sig []byte, bad bool) string {
	if bad && len(sig) > 0 {
		sig = append([]byte(nil), sig...)
		sig[len(sig)/2] ^= 1
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// serve routes the Entra ID endpoints the fake knows.
func (p *IdP) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	tenant := "/" + p.cfg.tenant
	switch r.URL.Path {
	case tenant + "/v2.0/.well-known/openid-configuration":
		p.serveDiscovery(w, p.IssuerV2(), p.JWKSURI(), "v2.0/")
	case tenant + "/.well-known/openid-configuration":
		p.serveDiscovery(w, p.IssuerV1(), p.srv.URL+"/common/discovery/keys", "")
	case "/discovery/v2.0/keys", tenant + "/discovery/v2.0/keys", "/common/discovery/keys", "/discovery/keys":
		p.serveKeys(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (p *IdP) serveDiscovery(w http.ResponseWriter, issuer, jwksURI, v string) {
	p.discoveryFetches.Add(1)
	p.mu.Lock()
	mode := p.mode
	p.mu.Unlock()
	if mode == ModeDown {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	base := p.srv.URL + "/" + p.cfg.tenant
	doc := map[string]any{
		"token_endpoint":                        base + "/oauth2/" + v + "token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              jwksURI,
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                issuer,
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     "https://graph.microsoft.com/oidc/userinfo",
		"authorization_endpoint":                base + "/oauth2/" + v + "authorize",
		"device_authorization_endpoint":         base + "/oauth2/" + v + "devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  base + "/oauth2/" + v + "logout",
		"claims_supported":                      []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"kerberos_endpoint":                     base + "/kerberos",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
		"rbac_url":                              "https://pas.windows.net",
	}
	body, _ := json.Marshal(doc)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=86400, private")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(body)
}

func (p *IdP) serveKeys(w http.ResponseWriter, r *http.Request) {
	p.jwksFetches.Add(1)
	p.mu.Lock()
	mode, maxAge, noETag := p.mode, p.maxAge, p.cfg.noETag
	for k, v := range p.headers {
		w.Header().Set(k, v)
	}
	var body []byte
	var etag string
	switch mode {
	case ModeNormal:
		if p.jwks == nil {
			p.jwks = p.buildJWKS()
			sum := sha256.Sum256(p.jwks)
			p.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
		}
		body, etag = p.jwks, p.etag
	case ModeGarbage:
		body = []byte("not json")
	case ModeInvalidJWKS:
		body = []byte(`{"error":"invalid_tenant","error_description":"AADSTS90002: Tenant not found."}`)
	case ModeNoUsableKeys:
		body = p.buildJWKSUse("enc")
	}
	p.mu.Unlock()

	if mode == ModeDown {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	if maxAge >= 0 {
		h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
	}
	if etag != "" && !noETag {
		h.Set("ETag", etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
			p.notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// buildJWKS renders the published keys as Entra ID does (no alg; x5t, x5c
// and issuer members). Called with p.mu held.
func (p *IdP) buildJWKS() []byte { return p.buildJWKSUse("sig") }

func (p *IdP) buildJWKSUse(use string) []byte {
	b64 := base64.RawURLEncoding.EncodeToString
	var b strings.Builder
	b.WriteString(`{"keys":[`)
	for i, k := range p.keys {
		// Members in Entra ID's order.
		var ms [][2]any
		switch pub := k.priv.Public().(type) {
		case *rsa.PublicKey:
			ms = [][2]any{{"kty", "RSA"}, {"use", use}, {"kid", k.kid}, {"x5t", k.kid},
				{"n", b64(pub.N.Bytes())}, {"e", b64(big.NewInt(int64(pub.E)).Bytes())}}
		case *ecdsa.PublicKey:
			size := (pub.Curve.Params().BitSize + 7) / 8
			ms = [][2]any{{"kty", "EC"}, {"use", use}, {"kid", k.kid}, {"x5t", k.kid}, {"crv", pub.Curve.Params().Name},
				{"x", b64(pub.X.FillBytes(make([]byte, size)))}, {"y", b64(pub.Y.FillBytes(make([]byte, size)))}}
		}
		if p.cfg.jwkAlg {
			ms = append(ms, [2]any{"alg", p.cfg.alg})
		}
		ms = append(ms, [2]any{"x5c", []string{base64.StdEncoding.EncodeToString(k.cert)}},
			[2]any{"cloud_instance_name", "microsoftonline.com"}, [2]any{"issuer", p.IssuerV2()})
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		for n, m := range ms {
			if n > 0 {
				b.WriteByte(',')
			}
			name, _ := json.Marshal(m[0])
			val, _ := json.Marshal(m[1])
			b.Write(name)
			b.WriteByte(':')
			b.Write(val)
		}
		b.WriteByte('}')
	}
	b.WriteString("]}")
	return []byte(b.String())
}

func guid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
