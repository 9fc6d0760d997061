package jose

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// signInput signs a JWS signing input with jwx's signer for k.Alg, with no
// policy check at all: tests use it to forge tokens.
func signInput(k PrivateKey, input []byte) ([]byte, error) {
	s, err := jws.NewSigner(jwa.SignatureAlgorithm(k.Alg))
	if err != nil {
		return nil, err
	}
	return s.Sign(input, k.Key)
}

// keyCase names a fixture key; RS256-3072 shares its algorithm with RS256.
type keyCase struct{ name, alg string }

var keyCases = []keyCase{
	{"ES256", ES256},
	{"EdDSA", EdDSA},
	{"RS256", RS256},
	{"RS256-3072", RS256},
}

type fixtures struct {
	priv    map[string]PrivateKey // by keyCase.name
	other   map[string]PrivateKey // a second, unrelated key per name
	rsa1024 *rsa.PrivateKey       // too small to be accepted anywhere
	p384    *ecdsa.PrivateKey     // wrong curve for ES256
}

// testKeys is generated once per test binary: RSA generation is slow,
// especially under -race.
var testKeys = sync.OnceValue(func() fixtures {
	gen := func(kc keyCase) PrivateKey {
		var k PrivateKey
		var err error
		if kc.name == "RS256-3072" {
			k, err = GenerateRSAKey(3072)
		} else {
			k, err = GenerateKey(kc.alg)
		}
		if err != nil {
			panic(err)
		}
		return k
	}
	fx := fixtures{priv: map[string]PrivateKey{}, other: map[string]PrivateKey{}}
	for _, kc := range keyCases {
		fx.priv[kc.name] = gen(kc)
		fx.other[kc.name] = gen(kc)
	}
	var err error
	if fx.rsa1024, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
		panic(err)
	}
	if fx.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	return fx
})

// testClaims is a typical RFC 9068 access token body.
type testClaims struct {
	Iss      string   `json:"iss"`
	Sub      string   `json:"sub"`
	Aud      string   `json:"aud"`
	Exp      int64    `json:"exp"`
	Iat      int64    `json:"iat"`
	Jti      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	Roles    []string `json:"roles,omitempty"`
}

func newClaims() testClaims {
	now := time.Now().Unix()
	return testClaims{
		Iss: "https://gatehouse.test", Sub: "user-42", Aud: "https://api.test",
		Exp: now + 3600, Iat: now, Jti: "0b7c6f1e-2a49-4a7e-9d3b-5b0f2f5d8c11",
		ClientID: "web", Scope: "openid profile", Roles: []string{"admin", "ops"},
	}
}

var allAlgs = []string{ES256, EdDSA, RS256}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func encB(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func decB(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return b
}

// forgeSegs signs the given (already encoded) segments with k, bypassing
// every check Sign makes, so a test can isolate one defect.
func forgeSegs(t testing.TB, k PrivateKey, hseg, pseg string) string {
	t.Helper()
	sig, err := signInput(k, []byte(hseg+"."+pseg))
	if err != nil {
		t.Fatalf("signInput: %v", err)
	}
	return hseg + "." + pseg + "." + encB(sig)
}

// forge signs arbitrary header and payload bytes with k.
func forge(t testing.TB, k PrivateKey, header, payload string) string {
	t.Helper()
	return forgeSegs(t, k, enc(header), enc(payload))
}

func mustSign(t testing.TB, k PrivateKey, claims any) string {
	t.Helper()
	tok, err := Sign(k, "at+jwt", claims)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

func segments(t testing.TB, tok string) (h, p, s string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments", len(parts))
	}
	return parts[0], parts[1], parts[2]
}

var sentinels = []error{ErrMalformed, ErrTooLarge, ErrAlgorithm, ErrUnknownKey, ErrSignature}

// wrapsOnly checks that err wraps want and no other sentinel.
func wrapsOnly(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v does not wrap %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Fatalf("error %v also wraps %v", err, s)
		}
	}
}

// parseVerify is what a request handler does with a bearer token.
func parseVerify(tok string, key PublicKey, allowed []string) error {
	t, err := Parse(tok)
	if err != nil {
		return err
	}
	return t.Verify(key, allowed)
}
