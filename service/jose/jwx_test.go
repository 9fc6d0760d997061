package jose

import (
	"crypto"
	"encoding/json"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// The tests in this file cross-check the package against an independent
// implementation, github.com/lestrrat-go/jwx: if both agree on tokens and
// JWKs in both directions, the R||S signature form, base64url handling and
// JWK members are right.

func jwxAlg(alg string) jwa.SignatureAlgorithm {
	switch alg {
	case ES256:
		return jwa.ES256()
	case EdDSA:
		return jwa.EdDSA()
	case RS256:
		return jwa.RS256()
	}
	panic("no jwx algorithm for " + alg)
}

// jwxPublicKey imports our published JWK into jwx.
func jwxPublicKey(t testing.TB, k PublicKey) jwk.Key {
	t.Helper()
	j, err := PublicJWK(k)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.ParseKey(buf)
	if err != nil {
		t.Fatalf("jwx rejects our JWK %s: %v", buf, err)
	}
	return key
}

func TestJWXVerifiesOurTokens(t *testing.T) {
	fx := testKeys()
	for _, kc := range keyCases {
		t.Run(kc.name, func(t *testing.T) {
			k := fx.priv[kc.name]
			key := jwxPublicKey(t, k.Public())
			tok := mustSign(t, k, newClaims())

			payload, err := jws.Verify([]byte(tok), jws.WithKey(jwxAlg(kc.alg), key))
			if err != nil {
				t.Fatalf("jws.Verify: %v", err)
			}
			_, p, _ := segments(t, tok)
			if string(payload) != string(decB(t, p)) {
				t.Fatalf("jwx payload = %s", payload)
			}

			// jwt.Parse also validates exp/iat and the header.
			parsed, err := jwt.Parse([]byte(tok), jwt.WithKey(jwxAlg(kc.alg), key))
			if err != nil {
				t.Fatalf("jwt.Parse: %v", err)
			}
			if sub, ok := parsed.Subject(); !ok || sub != newClaims().Sub {
				t.Fatalf("jwx subject = %q", sub)
			}

			// And jwx must reject the token under the wrong key.
			other := jwxPublicKey(t, fx.other[kc.name].Public())
			if _, err := jws.Verify([]byte(tok), jws.WithKey(jwxAlg(kc.alg), other)); err == nil {
				t.Fatal("jwx verified our token with an unrelated key")
			}
		})
	}
}

func TestWeVerifyJWXTokens(t *testing.T) {
	fx := testKeys()
	for _, kc := range keyCases {
		t.Run(kc.name, func(t *testing.T) {
			k := fx.priv[kc.name]
			hdr := jws.NewHeaders()
			if err := hdr.Set(jws.KeyIDKey, k.KID); err != nil {
				t.Fatal(err)
			}
			if err := hdr.Set(jws.TypeKey, "at+jwt"); err != nil {
				t.Fatal(err)
			}
			payload, err := json.Marshal(newClaims())
			if err != nil {
				t.Fatal(err)
			}
			// jwx signs with the raw private key it is handed.
			tok, err := jws.Sign(payload, jws.WithKey(jwxAlg(kc.alg), k.Key, jws.WithProtectedHeaders(hdr)))
			if err != nil {
				t.Fatalf("jws.Sign: %v", err)
			}
			parsed, err := Parse(string(tok))
			if err != nil {
				t.Fatalf("Parse of a jwx token: %v", err)
			}
			if parsed.Header.Alg != kc.alg || parsed.Header.Kid != k.KID || parsed.Header.Typ != "at+jwt" {
				t.Fatalf("header = %+v", parsed.Header)
			}
			if err := parsed.Verify(k.Public(), []string{kc.alg}); err != nil {
				t.Fatalf("Verify of a jwx token: %v", err)
			}
			if string(parsed.Payload) != string(payload) {
				t.Fatalf("payload = %s", parsed.Payload)
			}
			if err := parsed.Verify(fx.other[kc.name].Public(), []string{kc.alg}); err == nil {
				t.Fatal("jwx token verified with an unrelated key")
			}
		})
	}
}

// TestJWKAgreesWithJWX checks JWK export, import and thumbprints against jwx.
func TestJWKAgreesWithJWX(t *testing.T) {
	fx := testKeys()
	for _, kc := range keyCases {
		t.Run(kc.name, func(t *testing.T) {
			pub := fx.priv[kc.name].Public()

			// jwx's thumbprint of our JWK equals ours (and so the kid).
			key := jwxPublicKey(t, pub)
			tp, err := key.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if got := encB(tp); got != pub.KID {
				t.Fatalf("jwx thumbprint %s, our kid %s", got, pub.KID)
			}

			// A JWK exported by jwx parses to the same key here.
			jk, err := jwk.Import(pub.Key)
			if err != nil {
				t.Fatal(err)
			}
			buf, err := json.Marshal(jk)
			if err != nil {
				t.Fatal(err)
			}
			var j JWK
			if err := json.Unmarshal(buf, &j); err != nil {
				t.Fatal(err)
			}
			back, err := ParsePublicJWK(j)
			if err != nil {
				t.Fatalf("ParsePublicJWK of jwx JWK %s: %v", buf, err)
			}
			if !back.Key.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub.Key) || back.Alg != kc.alg {
				t.Fatalf("jwx JWK %s parsed to a different key", buf)
			}
			ours, err := PublicJWK(pub)
			if err != nil {
				t.Fatal(err)
			}
			if ours.X != j.X || ours.Y != j.Y || ours.N != j.N || ours.E != j.E || ours.Crv != j.Crv || ours.Kty != j.Kty {
				t.Fatalf("JWK members differ:\n ours %+v\n jwx  %+v", ours, j)
			}
		})
	}
}
