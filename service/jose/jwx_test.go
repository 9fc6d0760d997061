package jose

import (
	"crypto"
	"encoding/json"
	"maps"
	"testing"

	gojose "github.com/go-jose/go-jose/v4"
	gojwt "github.com/go-jose/go-jose/v4/jwt"
)

// The tests in this file cross-check the policy layer (and jwx under it)
// against an independent JOSE implementation, github.com/go-jose/go-jose/v4
// (the one coreos/go-oidc uses): if both agree on tokens and JWKs in both
// directions, gatehouse's tokens work with stock verifiers and stock tokens
// verify here.

// goJoseKey imports our published JWK into go-jose.
func goJoseKey(t testing.TB, k PublicKey) gojose.JSONWebKey {
	t.Helper()
	j, err := PublicJWK(k)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var key gojose.JSONWebKey
	if err := key.UnmarshalJSON(buf); err != nil {
		t.Fatalf("go-jose rejects our JWK %s: %v", buf, err)
	}
	if !key.Valid() || !key.IsPublic() {
		t.Fatalf("go-jose: our JWK %s is not a valid public key", buf)
	}
	return key
}

func TestGoJoseVerifiesOurTokens(t *testing.T) {
	fx := testKeys()
	for _, kc := range keyCases {
		t.Run(kc.name, func(t *testing.T) {
			k := fx.priv[kc.name]
			key := goJoseKey(t, k.Public())
			tok := mustSign(t, k, newClaims())
			algs := []gojose.SignatureAlgorithm{gojose.SignatureAlgorithm(kc.alg)}

			obj, err := gojose.ParseSigned(tok, algs)
			if err != nil {
				t.Fatalf("go-jose ParseSigned: %v", err)
			}
			payload, err := obj.Verify(key)
			if err != nil {
				t.Fatalf("go-jose Verify: %v", err)
			}
			_, p, _ := segments(t, tok)
			if string(payload) != string(decB(t, p)) {
				t.Fatalf("go-jose payload = %s", payload)
			}
			if h := obj.Signatures[0].Protected; h.KeyID != k.KID || h.ExtraHeaders["typ"] != "at+jwt" {
				t.Fatalf("go-jose header = %+v", h)
			}

			parsed, err := gojwt.ParseSigned(tok, algs)
			if err != nil {
				t.Fatal(err)
			}
			var claims gojwt.Claims
			if err := parsed.Claims(key, &claims); err != nil {
				t.Fatalf("go-jose jwt Claims: %v", err)
			}
			if claims.Subject != newClaims().Sub {
				t.Fatalf("go-jose subject = %q", claims.Subject)
			}

			other := goJoseKey(t, fx.other[kc.name].Public())
			if _, err := obj.Verify(other); err == nil {
				t.Fatal("go-jose verified our token with an unrelated key")
			}
		})
	}
}

func TestWeVerifyGoJoseTokens(t *testing.T) {
	fx := testKeys()
	for _, kc := range keyCases {
		t.Run(kc.name, func(t *testing.T) {
			k := fx.priv[kc.name]
			opts := (&gojose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", k.KID)
			signer, err := gojose.NewSigner(gojose.SigningKey{Algorithm: gojose.SignatureAlgorithm(kc.alg), Key: k.Key}, opts)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := json.Marshal(newClaims())
			if err != nil {
				t.Fatal(err)
			}
			obj, err := signer.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := Parse(tok)
			if err != nil {
				t.Fatalf("Parse of a go-jose token: %v", err)
			}
			if parsed.Header.Alg != kc.alg || parsed.Header.Kid != k.KID || parsed.Header.Typ != "at+jwt" {
				t.Fatalf("header = %+v", parsed.Header)
			}
			if err := parsed.Verify(k.Public(), []string{kc.alg}); err != nil {
				t.Fatalf("Verify of a go-jose token: %v", err)
			}
			if string(parsed.Payload) != string(payload) {
				t.Fatalf("payload = %s", parsed.Payload)
			}
			if err := parsed.Verify(fx.other[kc.name].Public(), []string{kc.alg}); err == nil {
				t.Fatal("go-jose token verified with an unrelated key")
			}
		})
	}
}

// TestJWKAgreesWithGoJose checks JWK export, import and thumbprints.
func TestJWKAgreesWithGoJose(t *testing.T) {
	fx := testKeys()
	for _, kc := range keyCases {
		t.Run(kc.name, func(t *testing.T) {
			pub := fx.priv[kc.name].Public()

			// go-jose's thumbprint of our JWK equals ours (and so the kid).
			key := goJoseKey(t, pub)
			tp, err := key.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if got := encB(tp); got != pub.KID {
				t.Fatalf("go-jose thumbprint %s, our kid %s", got, pub.KID)
			}

			// A JWK exported by go-jose parses to the same key here.
			buf, err := gojose.JSONWebKey{Key: pub.Key, KeyID: pub.KID, Algorithm: kc.alg, Use: "sig"}.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseJWKJSON(buf)
			if err != nil {
				t.Fatalf("ParseJWKJSON of go-jose JWK %s: %v", buf, err)
			}
			if !back.Key.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub.Key) || back.Alg != kc.alg || back.KID != pub.KID {
				t.Fatalf("go-jose JWK %s parsed to a different key", buf)
			}
			ours, err := PublicJWK(pub)
			if err != nil {
				t.Fatal(err)
			}
			var theirs map[string]string
			if err := json.Unmarshal(buf, &theirs); err != nil {
				t.Fatal(err)
			}
			if m := jwkMembers(t, ours); !maps.Equal(m, theirs) {
				t.Fatalf("JWK members differ:\n ours    %v\n go-jose %v", m, theirs)
			}
		})
	}
}
