package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// edKeys returns an EdDSA private key and a JWKS JSON for its public half;
// withAlg false leaves "alg" out of the published key.
func edKeys(t *testing.T, withAlg bool) (jwk.Key, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, "ed-1"); err != nil {
		t.Fatal(err)
	}
	pub, err := k.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if withAlg {
		if err := pub.Set(jwk.AlgorithmKey, jwa.EdDSA); err != nil {
			t.Fatal(err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return k, raw
}

func sign(t *testing.T, k jwk.Key, exp time.Time) []byte {
	t.Helper()
	tok, err := jwt.NewBuilder().Subject("svc").IssuedAt(exp.Add(-time.Hour)).Expiration(exp).Build()
	if err != nil {
		t.Fatal(err)
	}
	out, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, k))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReferenceVerifier(t *testing.T) {
	for _, withAlg := range []bool{true, false} {
		k, jwks := edKeys(t, withAlg)
		_, otherJWKS := edKeys(t, true)
		good := sign(t, k, time.Now().Add(time.Hour))
		expired := sign(t, k, time.Now().Add(-time.Minute))
		tampered := []byte(strings.Replace(string(good), ".", ".e30", 1))

		if v, err := newReferenceVerifier(jwks, jwxModeVerify); err != nil {
			t.Fatal(err)
		} else if inferred := strings.Contains(v.describe(), "inferred"); inferred == withAlg {
			t.Errorf("withAlg=%v: describe() = %q", withAlg, v.describe())
		}

		tests := []struct {
			mode    string
			jwks    []byte
			token   []byte
			wantErr bool
		}{
			{jwxModeVerify, jwks, good, false},
			{jwxModeParse, jwks, good, false},
			{jwxModeVerify, jwks, expired, false}, // signature only
			{jwxModeParse, jwks, expired, true},   // validation checks exp
			{jwxModeVerify, jwks, tampered, true},
			{jwxModeParse, jwks, tampered, true},
			{jwxModeVerify, otherJWKS, good, true},
			{jwxModeParse, otherJWKS, good, true},
		}
		for i, tt := range tests {
			v, err := newReferenceVerifier(tt.jwks, tt.mode)
			if err != nil {
				t.Fatalf("withAlg=%v #%d: %v", withAlg, i, err)
			}
			if err := v.newWorker()(tt.token); (err != nil) != tt.wantErr {
				t.Errorf("withAlg=%v #%d mode=%s: err = %v, wantErr %v", withAlg, i, tt.mode, err, tt.wantErr)
			}
		}
	}
}

func TestReferenceVerifierErrors(t *testing.T) {
	_, jwks := edKeys(t, true)
	tests := []struct {
		name string
		jwks string
		mode string
	}{
		{"not JSON", "nope", jwxModeVerify},
		{"empty set", `{"keys":[]}`, jwxModeVerify},
		{"bad mode", string(jwks), "fast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newReferenceVerifier([]byte(tt.jwks), tt.mode); err == nil {
				t.Error("want an error")
			}
		})
	}
}
