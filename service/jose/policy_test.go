package jose

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// TestLegacyTokens validates tokens, public JWKs and PKCS #8 keys written by
// gatehouse before it moved onto jwx (testdata/legacy_tokens.json), so that
// tokens and stored keys from before an upgrade keep working after it.
func TestLegacyTokens(t *testing.T) {
	b, err := os.ReadFile("testdata/legacy_tokens.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixtures []struct{ Alg, KID, JWK, PKCS8, Token, Payload string }
	if err := json.Unmarshal(b, &fixtures); err != nil {
		t.Fatal(err)
	}
	if len(fixtures) != 3 {
		t.Fatalf("%d fixtures, want ES256, EdDSA and RS256", len(fixtures))
	}
	for _, fx := range fixtures {
		t.Run(fx.Alg, func(t *testing.T) {
			pub, err := ParseJWKJSON([]byte(fx.JWK))
			if err != nil {
				t.Fatalf("stored JWK: %v", err)
			}
			if pub.KID != fx.KID || pub.Alg != fx.Alg {
				t.Fatalf("stored JWK kid/alg = %q/%q", pub.KID, pub.Alg)
			}
			if tp, err := Thumbprint(pub); err != nil || tp != fx.KID {
				t.Fatalf("thumbprint = %q, %v; the kid was %q", tp, err, fx.KID)
			}
			tok, err := Parse(fx.Token)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tok.Header != (Header{Alg: fx.Alg, Kid: fx.KID, Typ: "at+jwt"}) {
				t.Fatalf("header = %+v", tok.Header)
			}
			if err := tok.Verify(pub, allAlgs); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if string(tok.Payload) != fx.Payload {
				t.Fatalf("payload = %s", tok.Payload)
			}
			der, err := base64.StdEncoding.DecodeString(fx.PKCS8)
			if err != nil {
				t.Fatal(err)
			}
			priv, err := UnmarshalPrivate(fx.Alg, fx.KID, der)
			if err != nil {
				t.Fatalf("stored private key: %v", err)
			}
			// A token the new code signs with the stored key verifies with
			// the stored public key.
			again, err := Parse(mustSign(t, priv, json.RawMessage(fx.Payload)))
			if err != nil {
				t.Fatal(err)
			}
			if err := again.Verify(pub, allAlgs); err != nil {
				t.Fatalf("new token with the stored key: %v", err)
			}
			if again.Header != tok.Header || string(again.Payload) != fx.Payload {
				t.Fatalf("new token differs in shape: %+v %s", again.Header, again.Payload)
			}
		})
	}
}

// TestHeaderKeysNeverFetched: a token whose header points at the attacker's
// keys (jku, x5u), carries them (jwk, x5c), or names the attacker's kid is
// refused, and the attacker's server sees no request at all.
func TestHeaderKeysNeverFetched(t *testing.T) {
	var hits atomic.Int64
	fx := testKeys()
	attacker := fx.other["ES256"]
	attackerJWK, err := PublicJWK(attacker.Public())
	if err != nil {
		t.Fatal(err)
	}
	attackerSet := jwk.NewSet()
	if err := attackerSet.AddKey(attackerJWK); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_ = json.NewEncoder(w).Encode(attackerSet)
	}))
	defer srv.Close()
	jwkJSON, _ := json.Marshal(attackerJWK)
	certDER := selfSignedCert(t, attacker)
	x5c, _ := json.Marshal([]string{base64.StdEncoding.EncodeToString(certDER)})

	es := fx.priv["ES256"]
	payload := `{"sub":"admin","exp":4102444800}`
	for _, hdr := range []string{
		`{"alg":"ES256","kid":"` + es.KID + `","jku":"` + srv.URL + `/jwks.json"}`,
		`{"alg":"ES256","jku":"` + srv.URL + `/jwks.json"}`,
		`{"alg":"ES256","kid":"` + es.KID + `","x5u":"` + srv.URL + `/cert.pem"}`,
		`{"alg":"ES256","kid":"` + es.KID + `","jwk":` + string(jwkJSON) + `}`,
		`{"alg":"ES256","kid":"` + es.KID + `","x5c":` + string(x5c) + `}`,
		`{"alg":"ES256","kid":"` + attacker.KID + `","jku":"` + srv.URL + `","x5u":"` + srv.URL + `","jwk":` + string(jwkJSON) + `,"x5c":` + string(x5c) + `}`,
	} {
		tok := forge(t, attacker, hdr, payload)
		if err := parseVerify(tok, es.Public(), allAlgs); !errors.Is(err, ErrSignature) {
			t.Fatalf("header %s: err = %v, want a signature failure", hdr, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the attacker's server saw %d requests", n)
	}
}

func selfSignedCert(t *testing.T, k PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"}}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, k.Key.Public(), k.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// FuzzPolicyAgainstJWX is the differential check of the policy layer: raw
// jwx (jws.Verify with a strict key set: each key bound to its algorithm,
// no header-supplied keys) is the reference. The policy layer must never
// accept a token jwx refuses, must agree on the payload, and may refuse a
// token jwx accepts only for one of its documented reasons.
func FuzzPolicyAgainstJWX(f *testing.F) {
	fx := testKeys()
	es, ed, rs := fx.priv["ES256"], fx.priv["EdDSA"], fx.priv["RS256"]
	set := jwk.NewSet()
	keys := map[string]PublicKey{}
	for _, k := range []PrivateKey{es, ed, rs} {
		j, err := PublicJWK(k.Public())
		if err != nil {
			f.Fatal(err)
		}
		if err := set.AddKey(j); err != nil {
			f.Fatal(err)
		}
		keys[k.KID] = k.Public()
	}
	for _, k := range []PrivateKey{es, ed, rs} {
		f.Add(mustSign(f, k, newClaims()))
	}
	for _, seed := range []struct{ h, p string }{
		{`{"alg":"ES256","kid":"` + es.KID + `","crit":["exp"]}`, `{"sub":"a"}`},
		{`{"alg":"ES256","kid":"` + es.KID + `","kid":"x"}`, `{"sub":"a"}`},
		{`{"alg":"ES256","kid":"` + es.KID + `"}`, `{"sub":"a","SUB":"b"}`},
		{`{"alg":"EdDSA","kid":"` + es.KID + `"}`, `{"sub":"a"}`},
		{`{"alg":"ES256","kid":"` + es.KID + `","b64":false}`, `{"sub":"a"}`},
		{`{"alg":"ES256","kid":"` + es.KID + `"}`, `[1]`},
	} {
		f.Add(forge(f, es, seed.h, seed.p))
	}
	f.Add(strings.TrimRight(mustSign(f, es, newClaims()), "A") + "==")

	f.Fuzz(func(t *testing.T, s string) {
		ref, refErr := jws.Verify([]byte(s), jws.WithKeySet(set, jws.WithRequireKid(true), jws.WithInferAlgorithmFromKey(false), jws.WithUseDefault(false)))
		var kid string
		tok, err := Parse(s)
		if err == nil {
			kid = tok.Header.Kid
			key, ok := keys[kid]
			if !ok {
				err = ErrUnknownKey
			} else {
				err = tok.Verify(key, allAlgs)
			}
		}
		if err == nil {
			if refErr != nil {
				t.Fatalf("policy accepted a token raw jwx refuses: %v", refErr)
			}
			if string(ref) != string(tok.Payload) {
				t.Fatalf("payloads differ: jwx %q, policy %q", ref, tok.Payload)
			}
			return
		}
		if refErr == nil && errors.Is(err, ErrSignature) {
			t.Fatalf("jwx verified the signature but the policy says: %v", err)
		}
	})
}
