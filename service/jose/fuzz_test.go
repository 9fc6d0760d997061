package jose

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
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
		if len(s) > MaxTokenSize || strings.Count(s, ".") != 2 || !isBase64URL(strings.ReplaceAll(s, ".", "")) {
			t.Fatalf("Parse accepted a token of the wrong shape")
		}
		if !Supported(tok.Header.Alg) {
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

func FuzzParsePublicJWK(f *testing.F) {
	fx := testKeys()
	for _, kc := range keyCases {
		j, err := PublicJWK(fx.priv[kc.name].Public())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(j.Kty, j.Kid, j.Use, j.Alg, j.Crv, j.X, j.Y, j.N, j.E)
	}
	f.Add("EC", "", "", "", "P-256", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "", "")
	f.Add("OKP", "", "", "", "Ed25519", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "", "", "")
	f.Add("RSA", "k", "enc", "RS256", "", "", "", "AQAB", "AQAB")
	f.Add("EC", "", "sig", "ES256", "P-256", "AAAA", "AAAA=", "", "")

	f.Fuzz(func(t *testing.T, kty, kid, use, alg, crv, x, y, n, e string) {
		in := JWK{Kty: kty, Kid: kid, Use: use, Alg: alg, Crv: crv, X: x, Y: y, N: n, E: e}
		pub, err := ParsePublicJWK(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		// Strict decoding means an accepted JWK re-encodes to itself.
		out, err := PublicJWK(pub)
		if err != nil {
			t.Fatalf("PublicJWK of an accepted key: %v", err)
		}
		if out.Kty != kty || out.Kid != kid || out.Crv != crv || out.X != x || out.Y != y || out.N != n || out.E != e {
			t.Fatalf("accepted JWK is not canonical:\n in  %+v\n out %+v", in, out)
		}
		if alg != "" && out.Alg != alg || use != "" && use != "sig" {
			t.Fatalf("accepted alg %q use %q", alg, use)
		}
		if _, err := Thumbprint(pub); err != nil {
			t.Fatalf("Thumbprint of an accepted key: %v", err)
		}
	})
}

// FuzzObject checks the top-level member scanner against encoding/json: the
// scanner must see exactly the members json.Decoder sees, and checkObject
// must accept exactly the UTF-8 objects without (case-folded) duplicates.
func FuzzObject(f *testing.F) {
	for _, seed := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a":1,"A":2}`, `{"a":{"a":1},"b":[1,"]",{"c":"}"}]}`,
		`{"\u0061":1,"a":2}`, `{"a\"b":"c\\","d":-1.5e+3,"e":true,"f":null,"g":false}`,
		`[]`, `"x"`, `{"a":1}x`, `{"a" 1}`, "{\"\xff\":1}", "{\"k\":1,\"\u212a\":2}",
		manyMembers(30, ""), manyMembers(30, "CX"),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkObject(b)
		keys, vals, ok := referenceMembers(b)
		if !ok || !utf8.Valid(b) {
			if err == nil {
				t.Fatalf("checkObject accepted %q", b)
			}
			return
		}
		// Walk with the scanner and compare member by member.
		it, isObj := newMembers(b)
		if !isObj {
			t.Fatalf("scanner does not see an object in %q", b)
		}
		for i := 0; ; i++ {
			rawKey, val, more := it.next()
			if !more {
				if it.failed || i != len(keys) {
					t.Fatalf("scanner stopped after %d of %d members (failed=%v) in %q", i, len(keys), it.failed, b)
				}
				break
			}
			key, kerr := jsonString(rawKey)
			if kerr != nil || i >= len(keys) || string(key) != keys[i] || string(val) != vals[i] {
				t.Fatalf("member %d: scanner %q=%q, encoding/json %v %v", i, key, val, keys, vals)
			}
		}
		dup := false
		for i := range keys {
			for j := range i {
				dup = dup || strings.EqualFold(keys[i], keys[j])
			}
		}
		if dup != (err != nil) {
			t.Fatalf("duplicate=%v but checkObject returned %v for %q", dup, err, b)
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
