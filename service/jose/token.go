package jose

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Header is the protected header members gatehouse reads. jku, x5u, jwk and
// x5c are never read: a token cannot choose its key.
type Header struct {
	Alg string
	Kid string
	Typ string
}

// Token is a parsed compact JWS whose signature has not been checked yet.
type Token struct {
	Header  Header
	Payload []byte // decoded claims JSON, a JSON object

	signingInput []byte // BASE64URL(header) || '.' || BASE64URL(payload)
	signature    []byte
}

// Parse decodes a compact JWS without verifying it, applying the policy of
// the package doc: jws.SplitCompact splits it; each segment is decoded as
// strict unpadded base64url (canonical trailing bits, no line breaks); the
// header and the claims must pass checkHeader and checkObject. Errors wrap
// ErrTooLarge, ErrMalformed, or ErrAlgorithm when alg is missing, "none" or
// not Verifiable: no such token could ever verify, so it is refused before
// any key lookup.
//
// jws.Parse is not used on this path: it decodes leniently and its header
// object is not what the policy reads, so it would only add about 8 µs and
// 59 allocations per token. FuzzPolicyAgainstJWX checks that
// Parse and Verify never accept what jws.Verify refuses.
func Parse(token string) (*Token, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: token is %d bytes, limit is %d", ErrTooLarge, len(token), MaxTokenSize)
	}
	h, p, s, err := jws.SplitCompactString(token)
	if err != nil {
		return nil, fmt.Errorf("%w: token is not three dot-separated segments", ErrMalformed)
	}
	if len(h) == 0 || len(p) == 0 {
		return nil, fmt.Errorf("%w: token has an empty segment", ErrMalformed)
	}
	rawHeader, ok := decodeSegment(h)
	if !ok {
		return nil, fmt.Errorf("%w: header is not unpadded base64url", ErrMalformed)
	}
	var hdr Header
	if err := checkHeader(rawHeader, &hdr); err != nil {
		return nil, err
	}
	// Checked after the header so that alg "none" is reported as such.
	if len(s) == 0 {
		return nil, fmt.Errorf("%w: signature is empty", ErrMalformed)
	}
	payload, ok := decodeSegment(p)
	if !ok {
		return nil, fmt.Errorf("%w: payload is not unpadded base64url", ErrMalformed)
	}
	if err := checkObject(payload, nil); err != nil {
		return nil, fmt.Errorf("%w: payload %s", ErrMalformed, err.Error())
	}
	sig, ok := decodeSegment(s)
	if !ok {
		return nil, fmt.Errorf("%w: signature is not unpadded base64url", ErrMalformed)
	}
	return &Token{
		Header:       hdr,
		Payload:      payload,
		signingInput: []byte(token[:len(h)+1+len(p)]),
		signature:    sig,
	}, nil
}

// Verify checks the token's signature with key, through jwx's verifier for
// the algorithm. The header alg must be in allowed, equal key.Alg, and suit
// the key's type and size (see KeyFamily). Claims (exp, aud, ...) are the
// caller's to check afterwards.
func (t *Token) Verify(key PublicKey, allowed []string) error {
	if t == nil || t.signingInput == nil || len(t.signature) == 0 {
		return fmt.Errorf("%w: token did not come from Parse", ErrMalformed)
	}
	alg := t.Header.Alg
	if !Verifiable(alg) {
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
	v, err := jws.NewVerifier(jwa.SignatureAlgorithm(alg))
	if err != nil {
		return fmt.Errorf("%w: %s has no verifier", ErrAlgorithm, alg)
	}
	if err := v.Verify(t.signingInput, t.signature, key.Key); err != nil {
		return fmt.Errorf("%w: %s signature does not verify", ErrSignature, alg)
	}
	return nil
}

// protectedHeader is the header Sign writes, members in this order.
type protectedHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
	Typ string `json:"typ,omitempty"`
}

// maxSignatureSize is the longest signature of a supported algorithm
// (RS256 with a 4096-bit key), for the token's capacity.
const maxSignatureSize = 512

// Sign returns a compact JWS of claims signed with k by jwx's signer. The
// protected header is {"alg","kid","typ"}; kid and typ are left out when
// empty (gatehouse access tokens use typ "at+jwt", RFC 9068). claims must
// marshal to a JSON object that Parse would accept.
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
	if err := checkObject(payload, nil); err != nil {
		return "", fmt.Errorf("%w: encoded claims %v", ErrMalformed, err)
	}
	header, err := json.Marshal(protectedHeader{Alg: k.Alg, Kid: k.KID, Typ: typ})
	if err != nil {
		return "", fmt.Errorf("jose: encoding the header: %w", err)
	}
	signer, err := jws.NewSigner(jwa.SignatureAlgorithm(k.Alg))
	if err != nil {
		return "", fmt.Errorf("jose: %s signer: %w", k.Alg, err)
	}
	// The compact serialization (RFC 7515 §7.1) is assembled here and only
	// the signature is jwx's: through jws.Sign and a headers object an
	// ES256 token took 46 µs, 186 allocations and 13.9 KB, against 39 µs,
	// 112 and 9.9 KB (BenchmarkSign; EdDSA 111 → 37 allocations).
	enc := base64.RawURLEncoding
	out := make([]byte, 0, enc.EncodedLen(len(header))+enc.EncodedLen(len(payload))+2+enc.EncodedLen(maxSignatureSize))
	out = enc.AppendEncode(out, header)
	out = append(out, '.')
	out = enc.AppendEncode(out, payload)
	sig, err := signer.Sign(out, k.Key)
	if err != nil {
		return "", fmt.Errorf("jose: %s signing: %w", k.Alg, err)
	}
	out = append(out, '.')
	out = enc.AppendEncode(out, sig)
	if len(out) > MaxTokenSize {
		return "", fmt.Errorf("%w: signed token would be %d bytes, limit is %d", ErrTooLarge, len(out), MaxTokenSize)
	}
	return string(out), nil
}

// decodeSegment decodes one segment as unpadded base64url with zero
// trailing bits, so that every token has one spelling (jwx's decoder also
// takes padding and the standard alphabet). The standard library's strict
// decoder still skips CR and LF, which are refused first.
func decodeSegment(seg []byte) ([]byte, bool) {
	if bytes.IndexByte(seg, '\n') >= 0 || bytes.IndexByte(seg, '\r') >= 0 {
		return nil, false
	}
	out := make([]byte, base64.RawURLEncoding.DecodedLen(len(seg)))
	n, err := base64.RawURLEncoding.Strict().Decode(out, seg)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// checkHeader applies the header policy to the decoded protected header
// and fills h. Member names are matched exactly (JOSE names are
// case-sensitive); duplicates are refused case-insensitively.
func checkHeader(b []byte, h *Header) error {
	hasAlg := false
	err := checkObject(b, func(name string, val json.RawMessage) error {
		var dst *string
		switch name {
		case "alg":
			dst, hasAlg = &h.Alg, true
		case "kid":
			dst = &h.Kid
		case "typ":
			dst = &h.Typ
		case "crit":
			return errors.New("has crit, but no extension is supported")
		case "b64":
			return errors.New("has b64, but unencoded payloads are not supported")
		default:
			return nil
		}
		if len(val) == 0 || val[0] != '"' {
			return fmt.Errorf("%s is not a string", name)
		}
		s, err := jsontext.AppendUnquote(nil, val)
		if err != nil {
			return fmt.Errorf("%s is not a string", name)
		}
		*dst = string(s)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: header %s", ErrMalformed, err.Error())
	}
	switch {
	case !hasAlg || h.Alg == "":
		return fmt.Errorf("%w: header has no alg", ErrAlgorithm)
	case strings.EqualFold(h.Alg, "none"):
		return fmt.Errorf("%w: unsecured (alg none) tokens are never accepted", ErrAlgorithm)
	case !Verifiable(h.Alg):
		return fmt.Errorf("%w: header alg is not supported", ErrAlgorithm)
	}
	return nil
}

// checkObject checks that b is one UTF-8 JSON object without duplicate
// top-level member names, calling member (if not nil) for each member. The
// error is a description for the caller to wrap. The tokenizer is jsontext
// (encoding/json/v2's, from its upstream module): a third of the time and
// allocations of encoding/json's Decoder.Token on a claims object.
func checkObject(b []byte, member func(name string, val json.RawMessage) error) error {
	if !utf8.Valid(b) {
		return errors.New("is not valid UTF-8")
	}
	// Nested objects are the claim's consumer's business; jsontext still
	// refuses invalid UTF-8 and malformed JSON everywhere.
	d := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true))
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return errors.New("is not a JSON object")
	}
	var seen [16]string
	names := seen[:0]
	for d.PeekKind() == '"' {
		tok, err := d.ReadToken()
		if err != nil {
			return errors.New("is not valid JSON")
		}
		name := tok.String()
		val, err := d.ReadValue()
		if err != nil {
			return errors.New("is not valid JSON")
		}
		folded := foldName(name)
		if slices.Contains(names, folded) {
			return errors.New("has a duplicate member")
		}
		names = append(names, folded)
		if member != nil {
			if err := member(name, json.RawMessage(val)); err != nil {
				return err
			}
		}
	}
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '}' {
		return errors.New("is not valid JSON")
	}
	if _, err := d.ReadToken(); err != io.EOF {
		return errors.New("is not valid JSON (trailing data)")
	}
	return nil
}

// foldName maps name to a canonical member of its case-folding class, the
// way encoding/json matches member names to struct fields: "SUB", and "ſub"
// with a long s, fill the same field as "sub".
func foldName(name string) string {
	b := make([]byte, 0, len(name))
	for _, r := range name {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b = append(b, byte(r))
			continue
		}
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b = utf8.AppendRune(b, m)
	}
	return string(b)
}
