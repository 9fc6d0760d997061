package jose

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Header is the decoded protected header. Only these members are read; in
// particular jku, x5u, jwk and x5c are never used to find a key.
type Header struct {
	Alg string
	Kid string
	Typ string
}

// Token is a parsed compact JWS whose signature has not been checked yet.
type Token struct {
	Header  Header
	Payload []byte // decoded claims JSON, a JSON object

	signingInput []byte // ASCII(BASE64URL(header) || '.' || BASE64URL(payload))
	signature    []byte
}

// Parse decodes a compact JWS without verifying it. It accepts exactly three
// dot-separated, non-empty segments in unpadded base64url with canonical
// trailing bits; the header must be a UTF-8 JSON object with a supported
// string "alg" and no "crit" or "b64"; the payload must be a UTF-8 JSON
// object. Duplicate top-level member names (compared case-insensitively, as
// encoding/json matches struct fields) are rejected in both.
//
// Errors wrap ErrTooLarge, ErrMalformed, or ErrAlgorithm when alg is missing,
// "none" or not Supported: no such token could ever verify, so it is refused
// before any key lookup.
func Parse(token string) (*Token, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: token is %d bytes, limit is %d", ErrTooLarge, len(token), MaxTokenSize)
	}
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s, '.') >= 0 {
		return nil, fmt.Errorf("%w: token is not three dot-separated segments", ErrMalformed)
	}
	if h == "" || p == "" {
		return nil, fmt.Errorf("%w: token has an empty segment", ErrMalformed)
	}

	// One allocation holds a copy of the token (its prefix is the signing
	// input) followed by the decoded header, payload and signature.
	hn, pn, sn := b64.DecodedLen(len(h)), b64.DecodedLen(len(p)), b64.DecodedLen(len(s))
	buf := make([]byte, len(token)+hn+pn+sn)
	copy(buf, token)
	enc, dec := buf[:len(token)], buf[len(token):]
	sigStart := len(h) + len(p) + 2

	header, ok := decodeSegment(dec[:hn], enc[:len(h)])
	if !ok {
		return nil, fmt.Errorf("%w: header is not unpadded base64url", ErrMalformed)
	}
	t := &Token{signingInput: enc[:sigStart-1]}
	if err := parseHeader(header, &t.Header); err != nil {
		return nil, err
	}
	// Checked after the header so that alg "none" is reported as such.
	if s == "" {
		return nil, fmt.Errorf("%w: signature is empty", ErrMalformed)
	}
	if t.Payload, ok = decodeSegment(dec[hn:hn+pn], enc[len(h)+1:sigStart-1]); !ok {
		return nil, fmt.Errorf("%w: payload is not unpadded base64url", ErrMalformed)
	}
	if err := checkObject(t.Payload); err != nil {
		return nil, fmt.Errorf("%w: payload %s", ErrMalformed, err.Error())
	}
	if t.signature, ok = decodeSegment(dec[hn+pn:], enc[sigStart:]); !ok {
		return nil, fmt.Errorf("%w: signature is not unpadded base64url", ErrMalformed)
	}
	return t, nil
}

// Verify checks the token's signature with key. The header alg must be in
// allowed, equal key.Alg, and suit the key type: EC P-256 for ES256, Ed25519
// for EdDSA, RSA of at least 2048 bits for RS256. Claims (exp, aud, ...) are
// the caller's to check afterwards.
func (t *Token) Verify(key PublicKey, allowed []string) error {
	if t == nil || t.signingInput == nil || len(t.signature) == 0 {
		return fmt.Errorf("%w: token did not come from Parse", ErrMalformed)
	}
	alg := t.Header.Alg
	if !Supported(alg) {
		return fmt.Errorf("%w: token algorithm is not supported", ErrAlgorithm)
	}
	// alg is one of the constants from here on, so it is safe to print.
	if !slices.Contains(allowed, alg) {
		return fmt.Errorf("%w: %s is not allowed here", ErrAlgorithm, alg)
	}
	if key.Alg != alg {
		return fmt.Errorf("%w: token is %s but key %q is for %q", ErrAlgorithm, alg, key.KID, key.Alg)
	}
	if err := checkKey(alg, key.Key); err != nil {
		return err
	}

	sig := t.signature
	switch alg {
	case ES256:
		if len(sig) != es256SigSize {
			return fmt.Errorf("%w: ES256 signature is %d bytes, want %d", ErrSignature, len(sig), es256SigSize)
		}
		h := sha256.Sum256(t.signingInput)
		var der [72]byte
		if !ecdsa.VerifyASN1(key.Key.(*ecdsa.PublicKey), h[:], ecdsaRawToDER(der[:0], sig)) {
			return fmt.Errorf("%w: ES256 signature does not verify", ErrSignature)
		}
	case EdDSA:
		if len(sig) != ed25519.SignatureSize {
			return fmt.Errorf("%w: EdDSA signature is %d bytes, want %d", ErrSignature, len(sig), ed25519.SignatureSize)
		}
		if !ed25519.Verify(key.Key.(ed25519.PublicKey), t.signingInput, sig) {
			return fmt.Errorf("%w: EdDSA signature does not verify", ErrSignature)
		}
	case RS256:
		h := sha256.Sum256(t.signingInput)
		if rsa.VerifyPKCS1v15(key.Key.(*rsa.PublicKey), crypto.SHA256, h[:], sig) != nil {
			return fmt.Errorf("%w: RS256 signature does not verify", ErrSignature)
		}
	}
	return nil
}

// decodeSegment decodes one base64url segment into dst. The decoder rejects
// every byte outside the URL alphabet, '=' included, except '\r' and '\n',
// which it skips; those are refused here so each token has one spelling.
func decodeSegment(dst, src []byte) ([]byte, bool) {
	if bytes.IndexByte(src, '\n') >= 0 || bytes.IndexByte(src, '\r') >= 0 {
		return nil, false
	}
	n, err := b64.Decode(dst, src)
	if err != nil {
		return nil, false
	}
	return dst[:n], true
}

// isBase64URL reports whether s uses only the base64url alphabet.
func isBase64URL[S string | []byte](s S) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseHeader fills h from the header JSON. Member names are matched
// exactly (JOSE names are case-sensitive), unlike encoding/json.
func parseHeader(b []byte, h *Header) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: header is not valid UTF-8", ErrMalformed)
	}
	if !json.Valid(b) {
		return fmt.Errorf("%w: header is not valid JSON", ErrMalformed)
	}
	it, ok := newMembers(b)
	if !ok {
		return fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	var seen memberSet
	hasAlg := false
	for {
		rawKey, val, ok := it.next()
		if !ok {
			break
		}
		key, err := jsonString(rawKey)
		if err != nil {
			return fmt.Errorf("%w: header member name is invalid", ErrMalformed)
		}
		if !seen.add(key) {
			return fmt.Errorf("%w: header has a duplicate member", ErrMalformed)
		}
		switch string(key) {
		case "alg":
			v, err := jsonString(val)
			if err != nil {
				return fmt.Errorf("%w: header alg is not a string", ErrMalformed)
			}
			h.Alg, hasAlg = internAlg(v), true
		case "kid":
			v, err := jsonString(val)
			if err != nil {
				return fmt.Errorf("%w: header kid is not a string", ErrMalformed)
			}
			h.Kid = string(v)
		case "typ":
			v, err := jsonString(val)
			if err != nil {
				return fmt.Errorf("%w: header typ is not a string", ErrMalformed)
			}
			h.Typ = internTyp(v)
		case "crit":
			return fmt.Errorf("%w: header has crit, but no extension is supported", ErrMalformed)
		case "b64":
			return fmt.Errorf("%w: header has b64, but unencoded payloads are not supported", ErrMalformed)
		}
	}
	if it.failed {
		return fmt.Errorf("%w: header is not valid JSON", ErrMalformed)
	}
	switch {
	case !hasAlg || h.Alg == "":
		return fmt.Errorf("%w: header has no alg", ErrAlgorithm)
	case strings.EqualFold(h.Alg, "none"):
		return fmt.Errorf("%w: unsecured (alg none) tokens are never accepted", ErrAlgorithm)
	case !Supported(h.Alg):
		return fmt.Errorf("%w: header alg is not supported", ErrAlgorithm)
	}
	return nil
}

// internAlg avoids allocating for the algorithm names we expect.
func internAlg(v []byte) string {
	switch string(v) {
	case ES256:
		return ES256
	case EdDSA:
		return EdDSA
	case RS256:
		return RS256
	}
	return string(v)
}

// internTyp avoids allocating for the common typ values.
func internTyp(v []byte) string {
	switch string(v) {
	case "at+jwt":
		return "at+jwt"
	case "JWT":
		return "JWT"
	}
	return string(v)
}

// checkObject checks that b is a UTF-8 JSON object without duplicate
// top-level members. The returned error is only a description.
func checkObject(b []byte) error {
	if !utf8.Valid(b) {
		return errDesc("is not valid UTF-8")
	}
	if !json.Valid(b) {
		return errDesc("is not valid JSON")
	}
	it, ok := newMembers(b)
	if !ok {
		return errDesc("is not a JSON object")
	}
	var seen memberSet
	for {
		rawKey, _, ok := it.next()
		if !ok {
			break
		}
		key, err := jsonString(rawKey)
		if err != nil {
			return errDesc("has an invalid member name")
		}
		if !seen.add(key) {
			return errDesc("has a duplicate member")
		}
	}
	if it.failed {
		return errDesc("is not valid JSON")
	}
	return nil
}

// errDesc is a constant error description, wrapped by the caller.
type errDesc string

func (e errDesc) Error() string { return string(e) }
