package jose

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

func BenchmarkSign(b *testing.B) {
	fx := testKeys()
	claims := newClaims()
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			k := fx.priv[alg]
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sign(k, "at+jwt", claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseVerify(b *testing.B) {
	fx := testKeys()
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			k := fx.priv[alg]
			pub, tok := k.Public(), mustSign(b, k, newClaims())
			allowed := []string{alg}
			b.ReportAllocs()
			for b.Loop() {
				t, err := Parse(tok)
				if err != nil {
					b.Fatal(err)
				}
				if err := t.Verify(pub, allowed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkJWXVerifyES256 is the reference figure: jwx verifying the same
// kind of token.
func BenchmarkJWXVerifyES256(b *testing.B) {
	k := testKeys().priv[ES256]
	key, err := PublicJWK(k.Public())
	if err != nil {
		b.Fatal(err)
	}
	tok := []byte(mustSign(b, k, newClaims()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jws.Verify(tok, jws.WithKey(jwa.ES256, key)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkECDSAVerifyRaw is the floor for ES256: hashing the signing input
// and crypto/ecdsa verification alone.
func BenchmarkECDSAVerifyRaw(b *testing.B) {
	k := testKeys().priv[ES256]
	input := []byte(mustSign(b, k, newClaims()))
	h := sha256.Sum256(input)
	der, err := ecdsa.SignASN1(rand.Reader, k.Key.(*ecdsa.PrivateKey), h[:])
	if err != nil {
		b.Fatal(err)
	}
	pub := k.Public().Key.(*ecdsa.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		h := sha256.Sum256(input)
		if !ecdsa.VerifyASN1(pub, h[:], der) {
			b.Fatal("does not verify")
		}
	}
}

// BenchmarkParse is the cost of Parse alone on an ES256 access token.
func BenchmarkParse(b *testing.B) {
	tok := mustSign(b, testKeys().priv[ES256], newClaims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSignAllocations: signing builds the compact form itself around jwx's
// signature (jws.Sign with a headers object took 111 allocations for an
// EdDSA token, whose signature allocates little of its own).
func TestSignAllocations(t *testing.T) {
	fx := testKeys()
	claims := newClaims()
	n := testing.AllocsPerRun(50, func() {
		if _, err := Sign(fx.priv["EdDSA"], "at+jwt", claims); err != nil {
			t.Fatal(err)
		}
	})
	if n > 60 {
		t.Errorf("Sign (EdDSA) allocates %.0f times, want at most 60", n)
	}
}
