package jose

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// b64 is the only base64 flavour JOSE allows: URL alphabet, no padding, and
// (Strict) zero trailing bits, so every segment has exactly one encoding.
var b64 = base64.RawURLEncoding.Strict()

// es256SigSize is the JWS form of a P-256 signature: R||S, 32 bytes each
// (RFC 7518 §3.4).
const es256SigSize = 64

// Sign returns a compact JWS of claims signed with k. The protected header is
// {"alg","kid","typ"}; kid and typ are left out when empty (gatehouse access
// tokens use typ "at+jwt", RFC 9068). claims must marshal to a JSON object.
func Sign(k PrivateKey, typ string, claims any) (string, error) {
	if !Supported(k.Alg) {
		return "", fmt.Errorf("%w: cannot sign with an unsupported algorithm", ErrAlgorithm)
	}
	pub := publicOf(k.Key)
	if err := checkKey(k.Alg, pub); err != nil {
		return "", err
	}
	if !utf8.ValidString(k.KID) || !utf8.ValidString(typ) {
		return "", errors.New("jose: kid and typ must be valid UTF-8")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jose: encoding claims: %w", err)
	}
	// Refuse to mint what Parse would reject: non-objects, and members
	// whose names differ only in case (e.g. two struct fields "sub", "SUB").
	if err := checkObject(payload); err != nil {
		return "", fmt.Errorf("%w: encoded claims %v", ErrMalformed, err)
	}

	header := appendHeader(make([]byte, 0, 96), k.Alg, k.KID, typ)
	input := b64.EncodedLen(len(header)) + 1 + b64.EncodedLen(len(payload))
	total := input + 1 + b64.EncodedLen(signatureSize(k.Alg, pub))
	if total > MaxTokenSize {
		return "", fmt.Errorf("%w: signed token would be %d bytes, limit is %d", ErrTooLarge, total, MaxTokenSize)
	}

	buf := make([]byte, 0, total)
	buf = b64.AppendEncode(buf, header)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	sig, err := signInput(k, buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// signatureSize is the length of a signature by pub under alg, which
// checkKey has already matched.
func signatureSize(alg string, pub crypto.PublicKey) int {
	if alg == RS256 {
		return pub.(*rsa.PublicKey).Size()
	}
	return 64 // ES256 R||S and Ed25519 are both 64 bytes
}

// signInput signs the JWS signing input with k, returning the signature in
// its JWS form.
func signInput(k PrivateKey, input []byte) ([]byte, error) {
	switch k.Alg {
	case ES256:
		h := sha256.Sum256(input)
		der, err := k.Key.Sign(rand.Reader, h[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("jose: ES256 signing: %w", err)
		}
		return ecdsaDERToRaw(der)
	case EdDSA:
		sig, err := k.Key.Sign(rand.Reader, input, crypto.Hash(0))
		if err != nil {
			return nil, fmt.Errorf("jose: EdDSA signing: %w", err)
		}
		return sig, nil
	case RS256:
		h := sha256.Sum256(input)
		// A crypto.Hash (not *rsa.PSSOptions) selects PKCS #1 v1.5.
		sig, err := k.Key.Sign(rand.Reader, h[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("jose: RS256 signing: %w", err)
		}
		return sig, nil
	}
	return nil, fmt.Errorf("%w: cannot sign with an unsupported algorithm", ErrAlgorithm)
}

// appendHeader appends the protected header JSON. Members are written in a
// fixed order so tokens are reproducible.
func appendHeader(b []byte, alg, kid, typ string) []byte {
	b = append(b, `{"alg":"`...)
	b = append(b, alg...) // one of the constants: nothing to escape
	b = append(b, '"')
	if kid != "" {
		b = append(b, `,"kid":`...)
		b = appendJSONString(b, kid)
	}
	if typ != "" {
		b = append(b, `,"typ":`...)
		b = appendJSONString(b, typ)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. Thumbprint kids and "at+jwt"
// need no escaping, so encoding/json is only used for the rare string that
// does.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s) // cannot fail for a string
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// errSignerDER means a crypto.Signer returned something that is not an
// ECDSA-Sig-Value for P-256.
var errSignerDER = errors.New("jose: ES256 signer returned a malformed signature")

// ecdsaDERToRaw converts an ASN.1 ECDSA-Sig-Value from a P-256 signer into
// the fixed 64-byte R||S form.
func ecdsaDERToRaw(der []byte) ([]byte, error) {
	// A P-256 signature is at most 72 bytes, so lengths are short-form.
	if len(der) < 2 || der[0] != 0x30 || int(der[1]) != len(der)-2 {
		return nil, errSignerDER
	}
	rest := der[2:]
	out := make([]byte, es256SigSize)
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 {
			return nil, errSignerDER
		}
		n := int(rest[1])
		if n == 0 || n > 33 || len(rest) < 2+n {
			return nil, errSignerDER
		}
		v := rest[2 : 2+n]
		rest = rest[2+n:]
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > 32 {
			return nil, errSignerDER
		}
		copy(out[(i+1)*32-len(v):], v)
	}
	if len(rest) != 0 {
		return nil, errSignerDER
	}
	return out, nil
}

// ecdsaRawToDER appends the DER ECDSA-Sig-Value for a 64-byte R||S
// signature to dst, so crypto/ecdsa can verify it without big.Int work.
func ecdsaRawToDER(dst, sig []byte) []byte {
	start := len(dst)
	dst = append(dst, 0x30, 0)
	dst = appendASN1Uint(dst, sig[:32])
	dst = appendASN1Uint(dst, sig[32:])
	dst[start+1] = byte(len(dst) - start - 2) // at most 70: short form
	return dst
}

// appendASN1Uint appends v, a big-endian unsigned integer, as a minimal DER
// INTEGER.
func appendASN1Uint(dst, v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	if v[0]&0x80 != 0 {
		dst = append(dst, 0x02, byte(len(v)+1), 0)
	} else {
		dst = append(dst, 0x02, byte(len(v)))
	}
	return append(dst, v...)
}
