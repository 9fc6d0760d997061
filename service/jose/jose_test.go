package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

func TestSupported(t *testing.T) {
	for _, tc := range []struct {
		alg  string
		want bool
	}{
		{ES256, true}, {EdDSA, true}, {RS256, true},
		{"", false}, {"none", false}, {"HS256", false}, {"es256", false},
		{"ES384", false}, {"PS256", false}, {"RS512", false}, {"Ed25519", false},
	} {
		if got := Supported(tc.alg); got != tc.want {
			t.Errorf("Supported(%q) = %v, want %v", tc.alg, got, tc.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	fx := testKeys()
	for _, kc := range keyCases {
		t.Run(kc.name, func(t *testing.T) {
			k := fx.priv[kc.name]
			pub := k.Public()
			want := newClaims()

			kid, err := Thumbprint(pub)
			if err != nil {
				t.Fatal(err)
			}
			if k.KID != kid {
				t.Fatalf("KID %q is not the thumbprint %q", k.KID, kid)
			}

			tok, err := Sign(k, "at+jwt", want)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			if h := (Header{Alg: kc.alg, Kid: k.KID, Typ: "at+jwt"}); parsed.Header != h {
				t.Fatalf("header = %+v, want %+v", parsed.Header, h)
			}
			if err := parsed.Verify(pub, []string{kc.alg}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			var got testClaims
			if err := json.Unmarshal(parsed.Payload, &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("claims = %+v, want %+v", got, want)
			}

			// The published JWK must round-trip to a key that verifies.
			j, err := PublicJWK(pub)
			if err != nil {
				t.Fatal(err)
			}
			buf, err := json.Marshal(j)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseJWKJSON(buf)
			if err != nil {
				t.Fatalf("ParseJWKJSON: %v", err)
			}
			if back.KID != k.KID || back.Alg != kc.alg {
				t.Fatalf("parsed JWK kid/alg = %q/%q", back.KID, back.Alg)
			}
			if !back.Key.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub.Key) {
				t.Fatal("parsed JWK key differs from the original")
			}
			if err := parsed.Verify(back, []string{kc.alg}); err != nil {
				t.Fatalf("Verify with parsed JWK: %v", err)
			}
		})
	}
}

func TestSignHeader(t *testing.T) {
	k := testKeys().priv["ES256"]
	for _, tc := range []struct {
		name, kid, typ, want string
	}{
		{"all members", "abc", "at+jwt", `{"alg":"ES256","kid":"abc","typ":"at+jwt"}`},
		{"no typ", "abc", "", `{"alg":"ES256","kid":"abc"}`},
		{"no kid", "", "JWT", `{"alg":"ES256","typ":"JWT"}`},
		{"escaped kid", "a\"b\\c\n<é>", "", `{"alg":"ES256","kid":"a\"b\\c\n\u003cé\u003e"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := k
			k.KID = tc.kid
			tok, err := Sign(k, tc.typ, map[string]string{"sub": "x"})
			if err != nil {
				t.Fatal(err)
			}
			h, _, _ := segments(t, tok)
			if got := string(decB(t, h)); got != tc.want {
				t.Fatalf("header = %s, want %s", got, tc.want)
			}
			parsed, err := Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Header.Kid != tc.kid || parsed.Header.Typ != tc.typ {
				t.Fatalf("parsed header = %+v", parsed.Header)
			}
			if err := parsed.Verify(k.Public(), []string{ES256}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	fx := testKeys()
	es, ed := fx.priv["ES256"], fx.priv["EdDSA"]
	for _, tc := range []struct {
		name   string
		key    PrivateKey
		claims any
		want   error // nil: any error
	}{
		{"unsupported alg", PrivateKey{Alg: "HS256", Key: es.Key}, map[string]int{}, ErrAlgorithm},
		{"alg does not match key", PrivateKey{Alg: EdDSA, Key: es.Key}, map[string]int{}, ErrAlgorithm},
		{"nil key", PrivateKey{Alg: ES256}, map[string]int{}, ErrAlgorithm},
		{"typed nil key", PrivateKey{Alg: ES256, Key: (*ecdsa.PrivateKey)(nil)}, map[string]int{}, ErrAlgorithm},
		{"truncated Ed25519 key", PrivateKey{Alg: EdDSA, Key: ed.Key.(ed25519.PrivateKey)[:10]}, map[string]int{}, ErrAlgorithm},
		{"P-384 key", PrivateKey{Alg: ES256, Key: fx.p384}, map[string]int{}, ErrAlgorithm},
		{"RSA 1024 key", PrivateKey{Alg: RS256, Key: fx.rsa1024}, map[string]int{}, ErrAlgorithm},
		{"claims are an array", es, []int{1}, ErrMalformed},
		{"claims are a string", es, "sub", ErrMalformed},
		{"claims names differ only in case", es, struct {
			A string `json:"sub"`
			B string `json:"SUB"`
		}{"alice", "admin"}, ErrMalformed},
		{"raw claims with a duplicate", es, json.RawMessage(`{"sub":"a","sub":"b"}`), ErrMalformed},
		{"claims do not marshal", es, map[string]any{"f": func() {}}, nil},
		{"claims too large", es, map[string]string{"x": strings.Repeat("a", MaxTokenSize)}, ErrTooLarge},
		{"kid not UTF-8", PrivateKey{KID: "\xff", Alg: ES256, Key: es.Key}, map[string]int{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Sign(tc.key, "at+jwt", tc.claims)
			if err == nil {
				t.Fatalf("Sign succeeded: %s", tok)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v does not wrap %v", err, tc.want)
			}
		})
	}
}

// TestRFC7515ES256 verifies the ES256 example of RFC 7515 Appendix A.3, an
// independent check of the R||S signature form and of EC JWK decoding.
func TestRFC7515ES256(t *testing.T) {
	const tok = "eyJhbGciOiJFUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
	key, err := ParseJWKJSON([]byte(`{"kty":"EC","crv":"P-256",
		"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
		"y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify(key, []string{ES256}); err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Iss  string `json:"iss"`
		Root bool   `json:"http://example.com/is_root"`
	}
	if err := json.Unmarshal(parsed.Payload, &claims); err != nil || claims.Iss != "joe" || !claims.Root {
		t.Fatalf("claims = %+v, %v", claims, err)
	}
}

// TestRFC8037 checks the Ed25519 examples of RFC 8037 Appendix A: the
// thumbprint and the (deterministic) signature.
func TestRFC8037(t *testing.T) {
	const (
		d     = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
		x     = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
		thumb = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
		input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
		sig   = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	)
	priv := PrivateKey{Alg: EdDSA, Key: ed25519.NewKeyFromSeed(decB(t, d))}
	j, err := PublicJWK(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	if got := jwkMembers(t, j)["x"]; got != x {
		t.Fatalf("x = %s, want %s", got, x)
	}
	if got, err := Thumbprint(priv.Public()); err != nil || got != thumb {
		t.Fatalf("thumbprint = %q, %v; want %q", got, err, thumb)
	}
	got, err := signInput(priv, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	if encB(got) != sig {
		t.Fatalf("signature = %s, want %s", encB(got), sig)
	}
}

// TestThumbprintRFC7638 checks the RSA example of RFC 7638 §3.1.
func TestThumbprintRFC7638(t *testing.T) {
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	key, err := ParseJWKJSON([]byte(`{"kty":"RSA","n":"` + n + `","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Thumbprint(key)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Fatalf("thumbprint = %s, want %s", got, want)
	}
}

// TestAccepted covers legal but unusual tokens that must keep working.
func TestAccepted(t *testing.T) {
	k := testKeys().priv["ES256"]
	pub := k.Public()
	payload := `{"sub":"alice"}`
	for _, tc := range []struct {
		name, header, payload, wantKid string
	}{
		{"whitespace in JSON", " {\r\n\t\"alg\" : \"ES256\" ,\"kid\":\"k\" } ", " { \"sub\" : \"alice\" } ", "k"},
		{"escaped member names and values", `{"\u0061lg":"ES\u0032\u0035\u0036","kid":"a\/b\u00e9"}`, payload, "a/bé"},
		{"unknown and ignored members", `{"alg":"ES256","kid":"k","jku":"https://evil.test/jwks","x5u":"https://evil.test/c","x5c":["AAAA"],"cty":"JWT","nested":{"crit":["x"],"alg":"none"}}`, payload, "k"},
		{"nested duplicates are the caller's business", `{"alg":"ES256","kid":"k"}`, `{"a":{"b":1,"b":2},"B":[{"x":1,"x":2}]}`, "k"},
		{"many claims", `{"alg":"ES256","kid":"k"}`, manyMembers(100, ""), "k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := forge(t, k, tc.header, tc.payload)
			parsed, err := Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Header.Alg != ES256 || parsed.Header.Kid != tc.wantKid {
				t.Fatalf("header = %+v", parsed.Header)
			}
			if string(parsed.Payload) != tc.payload {
				t.Fatalf("payload = %s", parsed.Payload)
			}
			if err := parsed.Verify(pub, []string{ES256}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// manyMembers returns an object with n distinct members and, if dup is not
// empty, a last member named dup.
func manyMembers(n int, dup string) string {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"c` + strings.Repeat("x", i) + `":1`)
	}
	if dup != "" {
		b.WriteString(`,"` + dup + `":2`)
	}
	b.WriteString(`}`)
	return b.String()
}

func TestRejections(t *testing.T) {
	fx := testKeys()
	es, ed, rs := fx.priv["ES256"], fx.priv["EdDSA"], fx.priv["RS256"]
	payload := `{"sub":"alice","exp":4102444800}`
	esHeader := `{"alg":"ES256","kid":"` + es.KID + `"}`
	good := map[string]string{}
	for _, kc := range keyCases {
		good[kc.name] = mustSign(t, fx.priv[kc.name], newClaims())
	}
	rsPubDER, err := x509.MarshalPKIXPublicKey(rs.Public().Key)
	if err != nil {
		t.Fatal(err)
	}
	rsPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsPubDER})
	esJWK, err := PublicJWK(es.Public())
	if err != nil {
		t.Fatal(err)
	}
	esJWKJSON, _ := json.Marshal(esJWK)
	hs256 := func(secret []byte, header string) string {
		in := enc(header) + "." + enc(payload)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + encB(m.Sum(nil))
	}
	// withSig replaces the signature of tok.
	withSig := func(tok string, sig []byte) string {
		h, p, _ := segments(t, tok)
		return h + "." + p + "." + encB(sig)
	}
	sigOf := func(tok string) []byte { _, _, s := segments(t, tok); return decB(t, s) }
	flip := func(b []byte) []byte { b = append([]byte(nil), b...); b[len(b)/2] ^= 0x01; return b }
	// Standard-alphabet header: "???" encodes with '/' in it.
	stdHeader := base64.RawStdEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"???>>>"}`))
	if !strings.ContainsAny(stdHeader, "+/") {
		t.Fatalf("test header %s has no standard-only characters", stdHeader)
	}
	// The last character of a 64-byte signature carries 2 data bits and 4
	// zero bits; setting one of those makes the encoding non-canonical.
	nonCanonical := func(tok string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, tok[len(tok)-1])
		return tok[:len(tok)-1] + string(alphabet[i|1])
	}
	paddedPayload := base64.URLEncoding.EncodeToString([]byte(payload + "  "))
	if !strings.HasSuffix(paddedPayload, "=") {
		t.Fatalf("test payload %s is not padded", paddedPayload)
	}
	p384Pub := fx.p384.Public()
	rsa1024 := PrivateKey{Alg: RS256, Key: fx.rsa1024}
	esDER := func() []byte {
		h := sha256.Sum256([]byte(enc(esHeader) + "." + enc(payload)))
		der, err := ecdsa.SignASN1(rand.Reader, es.Key.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			t.Fatal(err)
		}
		return der
	}()
	// A header carrying the attacker's own key in "jwk", signed with it.
	attacker := fx.other["ES256"]
	attackerJWK, _ := PublicJWK(attacker.Public())
	attackerJWKJSON, _ := json.Marshal(attackerJWK)

	type tcase struct {
		name    string
		token   string
		key     *PublicKey // nil: the ES256 fixture key
		allowed []string   // nil: all three algorithms
		want    error
	}
	pk := func(k PublicKey) *PublicKey { return &k }
	cases := []tcase{
		// Algorithm confusion.
		{name: "alg none, empty signature", token: enc(`{"alg":"none"}`) + "." + enc(payload) + ".", want: ErrAlgorithm},
		{name: "alg none, with signature", token: forge(t, es, `{"alg":"none"}`, payload), want: ErrAlgorithm},
		{name: "alg NoNe", token: enc(`{"alg":"NoNe"}`) + "." + enc(payload) + ".", want: ErrAlgorithm},
		{name: "HS256 keyed with RSA public key DER", token: hs256(rsPubDER, `{"alg":"HS256"}`), key: pk(rs.Public()), want: ErrAlgorithm},
		{name: "HS256 keyed with RSA public key PEM", token: hs256(rsPubPEM, `{"alg":"HS256"}`), key: pk(rs.Public()), want: ErrAlgorithm},
		{name: "HS256 keyed with EC JWK JSON", token: hs256(esJWKJSON, `{"alg":"HS256","kid":"`+es.KID+`"}`), want: ErrAlgorithm},
		{name: "alg missing", token: forge(t, es, `{"kid":"`+es.KID+`"}`, payload), want: ErrAlgorithm},
		{name: "alg empty", token: forge(t, es, `{"alg":""}`, payload), want: ErrAlgorithm},
		{name: "alg in other case", token: forge(t, es, `{"alg":"es256"}`, payload), want: ErrAlgorithm},
		{name: "alg ES384", token: forge(t, es, `{"alg":"ES384"}`, payload), want: ErrAlgorithm},
		{name: "alg PS256", token: forge(t, rs, `{"alg":"PS256"}`, payload), key: pk(rs.Public()), want: ErrAlgorithm},
		{name: "alg not in allowed list", token: good["ES256"], allowed: []string{RS256, EdDSA}, want: ErrAlgorithm},
		{name: "empty allowed list", token: good["ES256"], allowed: []string{}, want: ErrAlgorithm},
		{name: "token alg differs from key alg", token: good["ES256"], key: pk(ed.Public()), want: ErrAlgorithm},
		{name: "EdDSA token, ES256 key", token: good["EdDSA"], want: ErrAlgorithm},
		{name: "key alg ES256 but key is Ed25519", token: good["ES256"], key: &PublicKey{Alg: ES256, Key: ed.Public().Key}, want: ErrAlgorithm},
		{name: "key alg RS256 but key is EC", token: good["RS256"], key: &PublicKey{Alg: RS256, Key: es.Public().Key}, want: ErrAlgorithm},
		{name: "key alg empty", token: good["ES256"], key: &PublicKey{Key: es.Public().Key}, want: ErrAlgorithm},
		{name: "ES256 with a P-384 key", token: good["ES256"], key: &PublicKey{Alg: ES256, Key: p384Pub}, want: ErrAlgorithm},
		{name: "RS256 with a 1024-bit key", token: forge(t, rsa1024, `{"alg":"RS256"}`, payload), key: pk(rsa1024.Public()), want: ErrAlgorithm},
		{name: "private key given as public key", token: good["ES256"], key: &PublicKey{Alg: ES256, Key: es.Key}, want: ErrAlgorithm},
		{name: "nil key", token: good["ES256"], key: &PublicKey{Alg: ES256}, want: ErrAlgorithm},

		// Signatures.
		{name: "ES256 tampered payload", token: enc(esHeader) + "." + enc(`{"sub":"admin","exp":4102444800}`) + "." + encB(sigOf(forge(t, es, esHeader, payload))), want: ErrSignature},
		{name: "ES256 tampered header", token: enc(`{"alg":"ES256","kid":"other"}`) + "." + enc(payload) + "." + encB(sigOf(forge(t, es, esHeader, payload))), want: ErrSignature},
		{name: "ES256 tampered signature", token: withSig(good["ES256"], flip(sigOf(good["ES256"]))), want: ErrSignature},
		{name: "EdDSA tampered signature", token: withSig(good["EdDSA"], flip(sigOf(good["EdDSA"]))), key: pk(ed.Public()), want: ErrSignature},
		{name: "RS256 tampered signature", token: withSig(good["RS256"], flip(sigOf(good["RS256"]))), key: pk(rs.Public()), want: ErrSignature},
		{name: "ES256 wrong key", token: good["ES256"], key: pk(fx.other["ES256"].Public()), want: ErrSignature},
		{name: "EdDSA wrong key", token: good["EdDSA"], key: pk(fx.other["EdDSA"].Public()), want: ErrSignature},
		{name: "RS256 wrong key", token: good["RS256"], key: pk(fx.other["RS256"].Public()), want: ErrSignature},
		{name: "RS256-3072 wrong key", token: good["RS256-3072"], key: pk(fx.other["RS256-3072"].Public()), want: ErrSignature},
		{name: "ES256 signature 63 bytes", token: withSig(good["ES256"], sigOf(good["ES256"])[:63]), want: ErrSignature},
		{name: "ES256 signature 65 bytes", token: withSig(good["ES256"], append(sigOf(good["ES256"]), 0)), want: ErrSignature},
		{name: "ES256 signature in ASN.1 DER", token: enc(esHeader) + "." + enc(payload) + "." + encB(esDER), want: ErrSignature},
		{name: "ES256 signature all zero", token: withSig(good["ES256"], make([]byte, 64)), want: ErrSignature},
		{name: "EdDSA signature 63 bytes", token: withSig(good["EdDSA"], sigOf(good["EdDSA"])[:63]), key: pk(ed.Public()), want: ErrSignature},
		{name: "RS256 signature truncated", token: withSig(good["RS256"], sigOf(good["RS256"])[1:]), key: pk(rs.Public()), want: ErrSignature},
		{name: "embedded jwk header is ignored", token: forge(t, attacker, `{"alg":"ES256","kid":"`+es.KID+`","jwk":`+string(attackerJWKJSON)+`}`, payload), want: ErrSignature},
		{name: "jku header is ignored", token: forge(t, attacker, `{"alg":"ES256","kid":"`+es.KID+`","jku":"https://attacker.test/jwks.json"}`, payload), want: ErrSignature},

		// Shape.
		{name: "empty token", token: "", want: ErrMalformed},
		{name: "one segment", token: enc(esHeader), want: ErrMalformed},
		{name: "two segments", token: enc(esHeader) + "." + enc(payload), want: ErrMalformed},
		{name: "four segments", token: good["ES256"] + "." + enc(payload), want: ErrMalformed},
		{name: "five segments (JWE)", token: enc(`{"alg":"RSA-OAEP","enc":"A256GCM"}`) + ".a.b.c.d", want: ErrMalformed},
		{name: "dots only", token: "..", want: ErrMalformed},
		{name: "empty header", token: "." + enc(payload) + ".c2ln", want: ErrMalformed},
		{name: "empty payload", token: enc(esHeader) + "..c2ln", want: ErrMalformed},
		{name: "empty signature", token: enc(esHeader) + "." + enc(payload) + ".", want: ErrMalformed},
		{name: "oversize garbage", token: strings.Repeat("a", MaxTokenSize+1), want: ErrTooLarge},
		{name: "oversize valid token", token: forge(t, es, esHeader, `{"pad":"`+strings.Repeat("a", MaxTokenSize)+`"}`), want: ErrTooLarge},
		{name: "MaxTokenSize garbage is malformed, not too large", token: strings.Repeat("a", MaxTokenSize), want: ErrMalformed},

		// Base64url.
		{name: "padded header", token: forgeSegs(t, es, enc(esHeader)+"=", enc(payload)), want: ErrMalformed},
		{name: "padded payload", token: forgeSegs(t, es, enc(esHeader), paddedPayload), want: ErrMalformed},
		{name: "padded signature", token: good["ES256"] + "==", want: ErrMalformed},
		{name: "standard alphabet header", token: forgeSegs(t, es, stdHeader, enc(payload)), want: ErrMalformed},
		{name: "standard alphabet signature", token: good["ES256"][:len(good["ES256"])-5] + "+/" + good["ES256"][len(good["ES256"])-3:], want: ErrMalformed},
		{name: "newline in signature", token: good["ES256"][:len(good["ES256"])-10] + "\n" + good["ES256"][len(good["ES256"])-10:], want: ErrMalformed},
		{name: "CR in payload", token: strings.Replace(good["ES256"], ".", ".\r", 1), want: ErrMalformed},
		{name: "space in header", token: " " + good["ES256"], want: ErrMalformed},
		{name: "non-canonical trailing bits", token: nonCanonical(good["ES256"]), want: ErrMalformed},
		{name: "impossible length", token: enc(esHeader) + "." + enc(payload) + ".AAAAA", want: ErrMalformed},

		// Header JSON.
		{name: "header not UTF-8", token: forge(t, es, "{\"alg\":\"ES256\",\"kid\":\"\xff\"}", payload), want: ErrMalformed},
		{name: "header with UTF-16 surrogate bytes", token: forge(t, es, "{\"alg\":\"ES256\",\"kid\":\"\xed\xa0\x80\"}", payload), want: ErrMalformed},
		{name: "header is an array", token: forge(t, es, `["alg","ES256"]`, payload), want: ErrMalformed},
		{name: "header is a string", token: forge(t, es, `"ES256"`, payload), want: ErrMalformed},
		{name: "header is null", token: forge(t, es, `null`, payload), want: ErrMalformed},
		{name: "header is not JSON", token: forge(t, es, `{alg:ES256}`, payload), want: ErrMalformed},
		{name: "header has trailing data", token: forge(t, es, esHeader+`{}`, payload), want: ErrMalformed},
		{name: "header has crit", token: forge(t, es, `{"alg":"ES256","crit":["exp"],"exp":1}`, payload), want: ErrMalformed},
		{name: "header has empty crit", token: forge(t, es, `{"alg":"ES256","crit":[]}`, payload), want: ErrMalformed},
		{name: "header has b64", token: forge(t, es, `{"alg":"ES256","b64":false,"crit":["b64"]}`, payload), want: ErrMalformed},
		{name: "header has b64 alone", token: forge(t, es, `{"b64":true,"alg":"ES256"}`, payload), want: ErrMalformed},
		{name: "alg is a number", token: forge(t, es, `{"alg":256}`, payload), want: ErrMalformed},
		{name: "alg is an array", token: forge(t, es, `{"alg":["ES256"]}`, payload), want: ErrMalformed},
		{name: "alg is null", token: forge(t, es, `{"alg":null}`, payload), want: ErrMalformed},
		{name: "kid is a number", token: forge(t, es, `{"alg":"ES256","kid":1}`, payload), want: ErrMalformed},
		{name: "typ is an object", token: forge(t, es, `{"alg":"ES256","typ":{}}`, payload), want: ErrMalformed},
		{name: "duplicate alg", token: forge(t, es, `{"alg":"ES256","alg":"none"}`, payload), want: ErrMalformed},
		{name: "duplicate alg, same value", token: forge(t, es, `{"alg":"ES256","alg":"ES256"}`, payload), want: ErrMalformed},
		{name: "duplicate alg in other case", token: forge(t, es, `{"alg":"ES256","ALG":"none"}`, payload), want: ErrMalformed},
		{name: "duplicate alg, escaped", token: forge(t, es, `{"alg":"ES256","\u0061lg":"ES256"}`, payload), want: ErrMalformed},
		{name: "duplicate kid", token: forge(t, es, `{"alg":"ES256","kid":"a","kid":"b"}`, payload), want: ErrMalformed},

		// Payload JSON.
		{name: "payload not UTF-8", token: forge(t, es, esHeader, "{\"sub\":\"\xc3\x28\"}"), want: ErrMalformed},
		{name: "payload is an array", token: forge(t, es, esHeader, `[{"sub":"alice"}]`), want: ErrMalformed},
		{name: "payload is a string", token: forge(t, es, esHeader, `"alice"`), want: ErrMalformed},
		{name: "payload is not JSON", token: forge(t, es, esHeader, `{"sub":alice}`), want: ErrMalformed},
		{name: "payload is plain text", token: forge(t, es, esHeader, `Example of Ed25519 signing`), want: ErrMalformed},
		{name: "payload has duplicate sub", token: forge(t, es, esHeader, `{"sub":"alice","sub":"admin"}`), want: ErrMalformed},
		{name: "payload has sub and SUB", token: forge(t, es, esHeader, `{"sub":"alice","SUB":"admin"}`), want: ErrMalformed},
		{name: "payload has Kelvin-sign duplicate", token: forge(t, es, esHeader, "{\"kid\":1,\"\u212aid\":2}"), want: ErrMalformed},
		{name: "payload duplicate after many members", token: forge(t, es, esHeader, manyMembers(40, "CXXX")), want: ErrMalformed},
	}
	all := []string{ES256, EdDSA, RS256}
	esPub := es.Public()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, allowed := esPub, all
			if tc.key != nil {
				key = *tc.key
			}
			if tc.allowed != nil {
				allowed = tc.allowed
			}
			err := parseVerify(tc.token, key, allowed)
			wrapsOnly(t, err, tc.want)
			t.Log(err)
			msg := err.Error()
			if len(tc.token) > 0 && strings.Contains(msg, tc.token) {
				t.Fatalf("error text contains the token: %s", msg)
			}
			if _, p, ok := strings.Cut(tc.token, "."); ok {
				if p, _, _ = strings.Cut(p, "."); len(p) > 8 && strings.Contains(msg, p) {
					t.Fatalf("error text contains the payload: %s", msg)
				}
			}
		})
	}
}

// TestVerifyDirect exercises Verify on Tokens that Parse would never
// produce, so its own checks do not depend on Parse's.
func TestVerifyDirect(t *testing.T) {
	fx := testKeys()
	es, rs := fx.priv["ES256"], fx.priv["RS256"]
	good, err := Parse(mustSign(t, es, newClaims()))
	if err != nil {
		t.Fatal(err)
	}
	hs := *good
	hs.Header.Alg = "HS256"
	none := *good
	none.Header.Alg = "none"
	unsigned := *good
	unsigned.signature = nil
	for _, tc := range []struct {
		name  string
		token *Token
		key   PublicKey
		want  error
	}{
		{"nil token", nil, es.Public(), ErrMalformed},
		{"zero token", &Token{Header: Header{Alg: ES256}}, es.Public(), ErrMalformed},
		{"no signature", &unsigned, es.Public(), ErrMalformed},
		{"HS256 with key claiming HS256", &hs, PublicKey{Alg: "HS256", Key: rs.Public().Key}, ErrAlgorithm},
		{"none with key claiming none", &none, PublicKey{Alg: "none", Key: es.Public().Key}, ErrAlgorithm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrapsOnly(t, tc.token.Verify(tc.key, []string{ES256, EdDSA, RS256, "HS256", "none"}), tc.want)
		})
	}
	if err := good.Verify(es.Public(), []string{ES256}); err != nil {
		t.Fatalf("good token: %v", err)
	}
}

// TestParseJWKRejects covers the key policy on JWKs that jwx parses: what
// jwx itself refuses, and what it accepts but gatehouse does not.
func TestParseJWKRejects(t *testing.T) {
	fx := testKeys()
	jwkOf := func(name string) map[string]string {
		j, err := PublicJWK(fx.priv[name].Public())
		if err != nil {
			t.Fatal(err)
		}
		return jwkMembers(t, j)
	}
	ec, okp, rs := jwkOf("ES256"), jwkOf("EdDSA"), jwkOf("RS256")
	mod := func(j map[string]string, f func(map[string]string)) map[string]string {
		j = maps.Clone(j)
		f(j)
		return j
	}
	// A point off the curve: bump y by one.
	y := decB(t, ec["y"])
	y[len(y)-1] ^= 1
	small := &fx.rsa1024.PublicKey
	p384, err := PublicJWK(PublicKey{Key: fx.p384.Public()})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		jwk  map[string]string
	}{
		{"empty", map[string]string{}},
		{"kty oct", map[string]string{"kty": "oct", "k": "c2VjcmV0"}},
		{"kty lower-case ec", mod(ec, func(j map[string]string) { j["kty"] = "ec" })},
		{"use enc", mod(ec, func(j map[string]string) { j["use"] = "enc" })},
		{"alg HS256", mod(ec, func(j map[string]string) { j["alg"] = "HS256" })},
		{"alg of another key type", mod(ec, func(j map[string]string) { j["alg"] = RS256 })},
		{"alg ES384 on a P-256 key", mod(ec, func(j map[string]string) { j["alg"] = ES384 })},
		{"alg none", mod(okp, func(j map[string]string) { j["alg"] = "none" })},

		{"EC point not on curve", mod(ec, func(j map[string]string) { j["y"] = encB(y) })},
		{"EC point at origin", mod(ec, func(j map[string]string) { j["x"] = encB(make([]byte, 32)); j["y"] = encB(make([]byte, 32)) })},
		{"EC x not reduced", mod(ec, func(j map[string]string) { j["x"] = encB(bytesOf(0xff, 32)) })},
		{"EC curve P-384 with P-256 coordinates", mod(ec, func(j map[string]string) { j["crv"] = "P-384" })},
		{"EC curve missing", mod(ec, func(j map[string]string) { delete(j, "crv") })},
		{"EC curve secp256k1", mod(ec, func(j map[string]string) { j["crv"] = "secp256k1" })},
		{"EC y missing", mod(ec, func(j map[string]string) { delete(j, "y") })},
		{"EC private key", mod(ec, func(j map[string]string) { j["d"] = encB(bytesOf(1, 32)) })},

		{"OKP x 31 bytes", mod(okp, func(j map[string]string) { j["x"] = encB(decB(t, okp["x"])[:31]) })},
		{"OKP x missing", mod(okp, func(j map[string]string) { delete(j, "x") })},
		{"OKP curve X25519", mod(okp, func(j map[string]string) { j["crv"] = "X25519" })},
		{"OKP curve Ed448", mod(okp, func(j map[string]string) { j["crv"] = "Ed448" })},

		{"RSA 1024 bits", mod(rs, func(j map[string]string) { j["n"] = encB(small.N.Bytes()) })},
		{"RSA 2040 bits", mod(rs, func(j map[string]string) { j["n"] = encB(decB(t, rs["n"])[1:]) })},
		{"RSA n too large", mod(rs, func(j map[string]string) { j["n"] = encB(append(bytesOf(0xff, 1025), 1)) })},
		{"RSA n missing", mod(rs, func(j map[string]string) { delete(j, "n") })},
		{"RSA e missing", mod(rs, func(j map[string]string) { delete(j, "e") })},
		{"RSA e = 1", mod(rs, func(j map[string]string) { j["e"] = "AQ" })},
		{"RSA e even", mod(rs, func(j map[string]string) { j["e"] = "AQAA" })},
		{"RSA alg ES256", mod(rs, func(j map[string]string) { j["alg"] = ES256 })},
		{"P-384 key with alg ES256", mod(jwkMembers(t, p384), func(j map[string]string) { j["alg"] = ES256 })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.jwk)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseJWKJSON(b)
			wrapsOnly(t, err, ErrMalformed)
		})
	}
	t.Run("key_ops without verify", func(t *testing.T) {
		b := []byte(`{"kty":"EC","crv":"P-256","key_ops":["sign"],"x":"` + ec["x"] + `","y":"` + ec["y"] + `"}`)
		_, err := ParseJWKJSON(b)
		wrapsOnly(t, err, ErrMalformed)
	})
}

// jwkMembers returns the JSON members of a jwx key.
func jwkMembers(t testing.TB, j jwk.Key) map[string]string {
	t.Helper()
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JWK %s: %v", b, err)
	}
	return m
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func TestPublicJWKMembers(t *testing.T) {
	fx := testKeys()
	private := []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
	want := map[string][]string{
		ES256: {"alg", "crv", "kid", "kty", "use", "x", "y"},
		EdDSA: {"alg", "crv", "kid", "kty", "use", "x"},
		RS256: {"alg", "e", "kid", "kty", "n", "use"},
	}
	for _, kc := range keyCases {
		t.Run(kc.name, func(t *testing.T) {
			k := fx.priv[kc.name]
			j, err := PublicJWK(k.Public())
			if err != nil {
				t.Fatal(err)
			}
			buf, err := json.Marshal(j)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(buf, &m); err != nil {
				t.Fatal(err)
			}
			for _, name := range private {
				if _, ok := m[name]; ok {
					t.Fatalf("JWK has private member %q: %s", name, buf)
				}
			}
			var got []string
			for name := range m {
				got = append(got, name)
			}
			if !equalSets(got, want[kc.alg]) {
				t.Fatalf("JWK members = %v, want %v", got, want[kc.alg])
			}
			if m["use"] != "sig" || m["alg"] != kc.alg || m["kid"] != k.KID {
				t.Fatalf("jwk = %s", buf)
			}
			if kc.alg == ES256 && (len(decB(t, m["x"].(string))) != 32 || len(decB(t, m["y"].(string))) != 32) {
				t.Fatal("EC coordinates are not 32 bytes")
			}
		})
	}
	t.Run("private key given as public key", func(t *testing.T) {
		for _, kc := range keyCases {
			k := fx.priv[kc.name]
			if _, err := PublicJWK(PublicKey{Alg: kc.alg, Key: k.Key}); !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("%s: PublicJWK of a private key: %v", kc.name, err)
			}
			if _, err := Thumbprint(PublicKey{Alg: kc.alg, Key: k.Key}); !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("%s: Thumbprint of a private key: %v", kc.name, err)
			}
		}
	})
	t.Run("alg does not match key", func(t *testing.T) {
		_, err := PublicJWK(PublicKey{Alg: RS256, Key: fx.priv["ES256"].Public().Key})
		wrapsOnly(t, err, ErrAlgorithm)
	})
}

func equalSets(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, s := range a {
		seen[s] = true
	}
	for _, s := range b {
		if !seen[s] {
			return false
		}
	}
	return true
}

func TestGenerateKey(t *testing.T) {
	if _, err := GenerateKey("HS256"); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("GenerateKey(HS256): %v", err)
	}
	if _, err := GenerateKey("none"); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("GenerateKey(none): %v", err)
	}
	for _, bits := range []int{0, 1024, 2047, 8193} {
		if _, err := GenerateRSAKey(bits); !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("GenerateRSAKey(%d): %v", bits, err)
		}
	}
	fx := testKeys()
	for name, bits := range map[string]int{"RS256": 2048, "RS256-3072": 3072} {
		if got := fx.priv[name].Public().Key.(interface{ Size() int }).Size() * 8; got != bits {
			t.Fatalf("%s key is %d bits", name, got)
		}
	}
	if fx.priv["ES256"].KID == fx.other["ES256"].KID {
		t.Fatal("two generated keys share a kid")
	}
}

func TestPrivateKeyDER(t *testing.T) {
	fx := testKeys()
	for _, kc := range keyCases {
		t.Run(kc.name, func(t *testing.T) {
			k := fx.priv[kc.name]
			der, err := MarshalPrivate(k)
			if err != nil {
				t.Fatal(err)
			}
			back, err := UnmarshalPrivate(kc.alg, k.KID, der)
			if err != nil {
				t.Fatal(err)
			}
			if back.KID != k.KID || back.Alg != kc.alg {
				t.Fatalf("kid/alg = %q/%q", back.KID, back.Alg)
			}
			// A token from the restored key verifies with the original.
			if err := parseVerify(mustSign(t, back, newClaims()), k.Public(), []string{kc.alg}); err != nil {
				t.Fatal(err)
			}
			if derived, err := UnmarshalPrivate(kc.alg, "", der); err != nil || derived.KID != k.KID {
				t.Fatalf("empty kid: got %q, %v; want the thumbprint %q", derived.KID, err, k.KID)
			}
			for _, alg := range allAlgs {
				if alg == kc.alg {
					continue
				}
				if _, err := UnmarshalPrivate(alg, k.KID, der); !errors.Is(err, ErrAlgorithm) {
					t.Fatalf("UnmarshalPrivate as %s: %v", alg, err)
				}
			}
		})
	}
	t.Run("rejects", func(t *testing.T) {
		es := fx.priv["ES256"]
		der, _ := MarshalPrivate(es)
		if _, err := UnmarshalPrivate("HS256", "k", der); !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("unsupported alg: %v", err)
		}
		for _, bad := range [][]byte{nil, []byte("not DER"), der[:len(der)-1]} {
			if _, err := UnmarshalPrivate(ES256, "k", bad); !errors.Is(err, ErrMalformed) {
				t.Fatalf("bad DER: %v", err)
			}
		}
		small, err := x509.MarshalPKCS8PrivateKey(fx.rsa1024)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalPrivate(RS256, "k", small); !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("1024-bit RSA: %v", err)
		}
		p384, err := x509.MarshalPKCS8PrivateKey(fx.p384)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalPrivate(ES256, "k", p384); !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("P-384: %v", err)
		}
		if _, err := MarshalPrivate(PrivateKey{Alg: EdDSA, Key: es.Key}); !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("mismatched alg: %v", err)
		}
		if _, err := MarshalPrivate(PrivateKey{Alg: ES256}); err == nil {
			t.Fatal("MarshalPrivate of a nil key succeeded")
		}
	})
}

func TestFoldName(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"sub", "SUB"}, {"kid", "\u212aid"}, {"ß", "ẞ"}, {"σ", "ς"}, {"x", "y"}, {"straße", "STRASSE"},
	} {
		want := strings.EqualFold(tc.a, tc.b)
		if got := foldName(tc.a) == foldName(tc.b); got != want {
			t.Errorf("foldName(%q) == foldName(%q) is %v, EqualFold says %v", tc.a, tc.b, got, want)
		}
	}
}

// TestReason pins the "sentinel: detail" error format that Reason (and the
// API's error messages) rely on.
func TestReason(t *testing.T) {
	es := testKeys().priv["ES256"]
	_, malformed := Parse("a.b")
	_, tooLarge := Parse(strings.Repeat("a", MaxTokenSize+1))
	_, none := Parse(enc(`{"alg":"none"}`) + "." + enc(`{}`) + ".")
	tok, _ := Parse(mustSign(t, es, newClaims()))
	wrongKey := tok.Verify(testKeys().other["ES256"].Public(), allAlgs)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{malformed, "token is not three dot-separated segments"},
		{tooLarge, "token is 8193 bytes, limit is 8192"},
		{none, "unsecured (alg none) tokens are never accepted"},
		{wrongKey, "ES256 signature does not verify"},
		{errors.New("other"), "other"},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
