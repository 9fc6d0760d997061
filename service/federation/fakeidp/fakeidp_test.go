package fakeidp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/service/jose"
)

// TestStockOIDCClient: an unchanged OIDC library (go-oidc) discovers the
// fake's v2.0 issuer and verifies its tokens, so the fake speaks OIDC.
func TestStockOIDCClient(t *testing.T) {
	idp := fakeidp.New(t)
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, idp.IssuerV2())
	if err != nil {
		t.Fatal(err)
	}
	v := p.Verifier(&oidc.Config{ClientID: idp.Audience()})
	tok, err := v.Verify(ctx, idp.Token(idp.DefaultClaims(idp.IssuerV2(), "")))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Issuer != idp.IssuerV2() || tok.Subject == "" {
		t.Errorf("token %+v", tok)
	}
	if _, err := v.Verify(ctx, idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""), fakeidp.WithBadSignature())); err == nil {
		t.Error("go-oidc accepted a bad signature")
	}
	idp.RotateKeys(false)
	if _, err := v.Verify(ctx, idp.Token(idp.DefaultClaims(idp.IssuerV2(), ""))); err != nil {
		t.Errorf("after rotation: %v", err)
	}
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestEndpoints(t *testing.T) {
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	idp := fakeidp.New(t, fakeidp.WithClock(func() time.Time { return clock }), fakeidp.WithMaxAge(300*time.Second), fakeidp.WithTenant("contoso-tenant"))
	if idp.IssuerV2() != idp.URL()+"/contoso-tenant/v2.0" || idp.IssuerV1() != "https://sts.windows.net/contoso-tenant/" ||
		idp.JWKSURI() != idp.URL()+"/discovery/v2.0/keys" || !strings.HasPrefix(idp.URL(), "http://127.0.0.1:") {
		t.Fatalf("URLs: %s %s %s", idp.IssuerV2(), idp.IssuerV1(), idp.JWKSURI())
	}

	// Discovery documents.
	for iss, path := range map[string]string{
		idp.IssuerV2(): "/contoso-tenant/v2.0/.well-known/openid-configuration",
		idp.IssuerV1(): "/contoso-tenant/.well-known/openid-configuration",
	} {
		resp, body := get(t, idp.URL()+path, nil)
		var doc map[string]any
		if resp.StatusCode != 200 || json.Unmarshal(body, &doc) != nil || doc["issuer"] != iss || doc["jwks_uri"] == "" {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}

	// Keys: Entra's shape, cache headers, ETag and 304.
	resp, body := get(t, idp.JWKSURI(), nil)
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q", cc)
	}
	etag := resp.Header.Get("ETag")
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("JWKS %s", body)
	}
	k := set.Keys[0]
	if k["kid"] != idp.KID() || k["x5t"] != idp.KID() || k["use"] != "sig" || k["kty"] != "RSA" || k["x5c"] == nil || k["alg"] != nil {
		t.Errorf("key %v", k)
	}
	if len(idp.KID()) != 27 {
		t.Errorf("kid %q is not shaped like Entra's", idp.KID())
	}
	raw, _ := json.Marshal(map[string]any{"kty": "RSA", "kid": k["kid"], "n": k["n"], "e": k["e"]})
	if pub, err := jose.ParseJWKJSON(raw); err != nil || pub.Alg != "" || pub.KID != idp.KID() {
		t.Errorf("published key: %+v, %v", pub, err)
	}
	if resp, _ := get(t, idp.JWKSURI(), map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 {
		t.Errorf("conditional GET: %d", resp.StatusCode)
	}
	if idp.JWKSFetches() != 2 || idp.NotModified() != 1 {
		t.Errorf("fetches %d, 304s %d", idp.JWKSFetches(), idp.NotModified())
	}
	idp.RotateKeys(true)
	resp, body = get(t, idp.JWKSURI(), map[string]string{"If-None-Match": etag})
	if resp.StatusCode != 200 || resp.Header.Get("ETag") == etag || strings.Count(string(body), `"kid"`) != 2 {
		t.Errorf("after rotation: %d %s", resp.StatusCode, body)
	}

	// Claims use the IdP's clock.
	c := idp.DefaultClaims(idp.IssuerV1(), "")
	if c["iat"] != clock.Unix() || c["exp"] != clock.Unix()+3600 || c["ver"] != "1.0" || c["appid"] != idp.ClientID() || c["aud"] != "api://"+idp.ClientID() {
		t.Errorf("v1 claims %v", c)
	}
	c = idp.DefaultClaims(idp.IssuerV2(), "custom")
	if c["ver"] != "2.0" || c["azp"] != idp.ClientID() || c["appid"] != nil || c["aud"] != "custom" {
		t.Errorf("v2 claims %v", c)
	}

	// Modes.
	for mode, want := range map[fakeidp.Mode]string{
		fakeidp.ModeDown:         "503",
		fakeidp.ModeGarbage:      "200 not json",
		fakeidp.ModeInvalidJWKS:  "200 {",
		fakeidp.ModeNoUsableKeys: `200 {"keys":[{"kty":"RSA","use":"enc"`,
	} {
		idp.SetMode(mode)
		resp, body := get(t, idp.JWKSURI(), nil)
		if got := resp.Status[:3] + " " + string(body); !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q", mode, got)
		}
	}
	idp.SetMode(fakeidp.ModeNormal)
	idp.Close()
	if _, err := http.Get(idp.JWKSURI()); err == nil {
		t.Error("a closed IdP answered")
	}
}

func TestTokens(t *testing.T) {
	idp := fakeidp.New(t)
	claims := idp.DefaultClaims(idp.IssuerV2(), "")
	header := func(tok string) map[string]any {
		seg, _, _ := strings.Cut(tok, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(seg)
		var h map[string]any
		_ = json.Unmarshal(raw, &h)
		return h
	}
	if h := header(idp.Token(claims)); h["alg"] != "RS256" || h["kid"] != idp.KID() || h["typ"] != "JWT" {
		t.Errorf("header %v", h)
	}
	if h := header(idp.Token(claims, fakeidp.WithKid("k1"), fakeidp.WithHeader("jku", "https://x"), fakeidp.WithHeader("typ", nil))); h["kid"] != "k1" || h["jku"] != "https://x" || h["typ"] != nil {
		t.Errorf("header %v", h)
	}
	if tok := idp.Token(claims, fakeidp.WithAlgNone()); !strings.HasSuffix(tok, ".") || header(tok)["alg"] != "none" {
		t.Errorf("alg none token %q", tok)
	}
	if h := header(idp.Token(claims, fakeidp.WithHS256(idp.PublicKeyPEM()))); h["alg"] != "HS256" {
		t.Errorf("HS256 header %v", h)
	}
	if !strings.HasPrefix(string(idp.PublicKeyPEM()), "-----BEGIN PUBLIC KEY-----") {
		t.Error("PublicKeyPEM")
	}
	// An RS256 token verifies with the published key.
	tok, err := jose.Parse(idp.Token(claims))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jose.ParseJWK(idp.PublicJWK())
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.Verify(pub, []string{jose.RS256}); err != nil {
		t.Error(err)
	}
	if pub2, err := jose.ParseJWKJSON(idp.PublicJWKJSON()); err != nil || pub2.KID != idp.KID() {
		t.Errorf("PublicJWKJSON: %+v %v", pub2, err)
	}
}

// TestAlgorithms: PS256 and ES384 IdPs publish keys that jwx parses and
// gatehouse's policy accepts, and sign tokens that verify with them; a
// stock OIDC client agrees.
func TestAlgorithms(t *testing.T) {
	for _, c := range []struct {
		alg    string
		opts   []fakeidp.Option
		kty    string
		jwkAlg string // published alg, after ParseJWK ("" for RSA without alg)
	}{
		{jose.RS256, nil, "RSA", ""},
		{jose.PS256, nil, "RSA", ""},
		{jose.PS256, []fakeidp.Option{fakeidp.WithJWKAlg()}, "RSA", jose.PS256},
		{jose.ES384, nil, "EC", jose.ES384},
	} {
		t.Run(c.alg+"/"+c.jwkAlg, func(t *testing.T) {
			idp := fakeidp.New(t, append(c.opts, fakeidp.WithAlgorithm(c.alg))...)
			if idp.Alg() != c.alg {
				t.Fatalf("Alg() = %s", idp.Alg())
			}
			_, body := get(t, idp.JWKSURI(), nil)
			set, err := jose.ParseJWKJSON(body) // a set is not one key
			if err == nil {
				t.Fatalf("a JWKS parsed as one JWK: %+v", set)
			}
			var doc struct {
				Keys []json.RawMessage `json:"keys"`
			}
			if err := json.Unmarshal(body, &doc); err != nil || len(doc.Keys) != 1 {
				t.Fatalf("JWKS %s", body)
			}
			pub, err := jose.ParseJWKJSON(doc.Keys[0])
			if err != nil {
				t.Fatal(err)
			}
			if pub.Alg != c.jwkAlg || pub.KID != idp.KID() || !strings.Contains(string(doc.Keys[0]), `"kty":"`+c.kty+`"`) {
				t.Errorf("published key %+v from %s", pub, doc.Keys[0])
			}
			pub.Alg = c.alg // bind an alg-less RSA key, as the Verifier does
			claims := idp.DefaultClaims(idp.IssuerV2(), "")
			tok, err := jose.Parse(idp.Token(claims))
			if err != nil {
				t.Fatal(err)
			}
			if tok.Header.Alg != c.alg {
				t.Errorf("header alg %s", tok.Header.Alg)
			}
			if err := tok.Verify(pub, []string{c.alg}); err != nil {
				t.Error(err)
			}
			bad, _ := jose.Parse(idp.Token(claims, fakeidp.WithBadSignature()))
			if err := bad.Verify(pub, []string{c.alg}); err == nil {
				t.Error("a bad signature verified")
			}
			p, err := oidc.NewProvider(context.Background(), idp.IssuerV2())
			if err != nil {
				t.Fatal(err)
			}
			v := p.Verifier(&oidc.Config{ClientID: idp.Audience(), SupportedSigningAlgs: []string{c.alg}})
			if _, err := v.Verify(context.Background(), idp.Token(claims)); err != nil {
				t.Errorf("go-oidc: %v", err)
			}
		})
	}
}
