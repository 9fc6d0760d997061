package jose

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

func FuzzParse(f *testing.F) {
	fx := testKeys()
	for _, kc := range keyCases {
		f.Add(mustSign(f, fx.priv[kc.name], newClaims()))
	}
	es := fx.priv["ES256"]
	for _, seed := range []string{
		"", ".", "..", "...", "a.b.c", "e30.e30.e30", "e30.e30.",
		enc(`{"alg":"none"}`) + "." + enc(`{}`) + ".",
		enc(`{"alg":"HS256"}`) + "." + enc(`{}`) + ".c2ln",
		forge(f, es, `{"alg":"ES256","crit":["b64"],"b64":false}`, `{}`),
		forge(f, es, `{"alg":"ES256","alg":"ES256"}`, `{"a":1}`),
		forge(f, es, `{"\u0061lg":"ES\u0032\u0035\u0036","kid":"\"\\"}`, `{"a":[{"b":"}"}],"c":"\\\""}`),
		forge(f, es, `{"alg":"ES256"}`, manyMembers(20, "CXX")),
		forge(f, es, "{\"alg\":\"ES256\",\"kid\":\"\xff\"}", `{}`),
		forge(f, es, `{"alg":"ES256"} `, ` {"a":{"b":[1,2,{"c":null}]}} `),
		enc(`{"alg":"ES256"}`) + "=." + enc(`{}`) + ".AAAA",
		"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
	} {
		f.Add(seed)
	}
	pubs := []PublicKey{es.Public(), fx.priv["EdDSA"].Public(), fx.priv["RS256"].Public()}

	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("Parse error wraps no sentinel: %v", err)
			}
			if len(s) > 16 && strings.Contains(err.Error(), s) {
				t.Fatalf("Parse error contains the token: %v", err)
			}
			return
		}
		// Whatever Parse accepts must satisfy its documented contract.
		if len(s) > MaxTokenSize || strings.Count(s, ".") != 2 {
			t.Fatalf("Parse accepted a token of the wrong shape")
		}
		for _, seg := range strings.Split(s, ".") {
			if _, err := base64.RawURLEncoding.Strict().DecodeString(seg); err != nil || strings.ContainsAny(seg, "\r\n") {
				t.Fatalf("Parse accepted a segment that is not canonical base64url: %v", err)
			}
		}
		if !Verifiable(tok.Header.Alg) {
			t.Fatalf("Parse accepted alg %q", tok.Header.Alg)
		}
		if !utf8.Valid(tok.Payload) || !json.Valid(tok.Payload) {
			t.Fatal("Parse accepted a payload that is not UTF-8 JSON")
		}
		var claims map[string]json.RawMessage
		if err := json.Unmarshal(tok.Payload, &claims); err != nil {
			t.Fatalf("Parse accepted a payload that is not an object: %v", err)
		}
		if !utf8.ValidString(tok.Header.Kid) || !utf8.ValidString(tok.Header.Typ) {
			t.Fatal("Parse returned a header string that is not UTF-8")
		}
		for _, k := range pubs {
			if err := tok.Verify(k, allAlgs); err != nil && !errors.Is(err, ErrAlgorithm) && !errors.Is(err, ErrSignature) {
				t.Fatalf("Verify error wraps no expected sentinel: %v", err)
			}
		}
	})
}

// FuzzParseJWK feeds JWK JSON through jwx and the key policy: errors wrap
// ErrMalformed, and an accepted key re-encodes to the same key and has a
// thumbprint.
func FuzzParseJWK(f *testing.F) {
	fx := testKeys()
	for _, kc := range keyCases {
		j, err := PublicJWK(fx.priv[kc.name].Public())
		if err != nil {
			f.Fatal(err)
		}
		b, err := json.Marshal(j)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{
		`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`,
		`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`,
		`{"kty":"RSA","kid":"k","use":"enc","alg":"RS256","n":"AQAB","e":"AQAB"}`,
		`{"kty":"EC","use":"sig","alg":"ES256","crv":"P-256","x":"AAAA","y":"AAAA="}`,
		`{"kty":"oct","k":"c2VjcmV0"}`, `{}`, `[]`, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := ParseJWKJSON(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		fam, err := KeyFamily(pub.Key)
		if err != nil {
			t.Fatalf("accepted a key outside the policy: %v", err)
		}
		if pub.Alg != "" && !slices.Contains(fam, pub.Alg) {
			t.Fatalf("accepted alg %q for a %s key", pub.Alg, fam[0])
		}
		if pub.Alg == "" {
			pub.Alg = fam[0]
		}
		out, err := PublicJWK(pub)
		if err != nil {
			t.Fatalf("PublicJWK of an accepted key: %v", err)
		}
		var back any
		if err := out.Raw(&back); err != nil {
			t.Fatal(err)
		}
		if !back.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub.Key) {
			t.Fatal("accepted key does not re-encode to itself")
		}
		if _, err := Thumbprint(pub); err != nil {
			t.Fatalf("Thumbprint of an accepted key: %v", err)
		}
	})
}

// FuzzObject checks checkObject against encoding/json: it accepts exactly
// the UTF-8 JSON objects whose top-level member names have no duplicates
// under strings.EqualFold (encoding/json's field matching), and reports
// exactly their members.
func FuzzObject(f *testing.F) {
	for _, seed := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":1,"A":2}`, `{"a":{"a":1},"b":[1,"]",{"c":"}"}]}`,
		`{"\u0061":1,"a":2}`, `{"a\"b":"c\\","d":-1.5e+3,"e":true,"f":null,"g":false}`,
		`[]`, `"x"`, `{"a":1}x`, `{"a" 1}`, "{\"\xff\":1}", "{\"k\":1,\"\u212a\":2}",
		"{\"s\":1,\"\u017f\":2}", `{"\ud800":1}`, `{"a":"\udfff"}`, manyMembers(30, ""), manyMembers(30, "CX"),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var gotKeys, gotVals []string
		err := checkObject(b, func(name string, val json.RawMessage) error {
			gotKeys, gotVals = append(gotKeys, name), append(gotVals, string(val))
			return nil
		})
		keys, vals, ok := referenceMembers(b)
		// jsontext is stricter than encoding/json in one way that matters
		// here: escaped lone surrogates ("\ud800") are not valid Unicode
		// (RFC 7493 I-JSON) and are refused.
		if ok && !jsontext.Value(b).IsValid(jsontext.AllowDuplicateNames(true)) {
			if err == nil {
				t.Fatalf("checkObject accepted %q, which jsontext calls invalid", b)
			}
			return
		}
		if !ok || !utf8.Valid(b) {
			if err == nil {
				t.Fatalf("checkObject accepted %q", b)
			}
			return
		}
		dup := -1
		for i := range keys {
			for j := range i {
				if dup < 0 && strings.EqualFold(keys[i], keys[j]) {
					dup = i
				}
			}
		}
		if (dup >= 0) != (err != nil) {
			t.Fatalf("duplicate=%v but checkObject returned %v for %q", dup >= 0, err, b)
		}
		if dup < 0 && (!slices.Equal(gotKeys, keys) || !slices.Equal(gotVals, vals)) {
			t.Fatalf("members: checkObject %q=%q, encoding/json %q=%q", gotKeys, gotVals, keys, vals)
		}
	})
}

// referenceMembers lists the top-level members of b using json.Decoder. It
// reports false if b is not exactly one JSON object.
func referenceMembers(b []byte) (keys, vals []string, ok bool) {
	if !json.Valid(b) {
		return nil, nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, false
		}
		keys = append(keys, tok.(string))
		vals = append(vals, string(raw))
	}
	return keys, vals, true
}
