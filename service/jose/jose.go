// Package jose is gatehouse's policy on top of github.com/lestrrat-go/jwx/v2.
//
// jwx does the JOSE work: every signature and verification (jws.NewSigner,
// jws.NewVerifier), splitting compact JWS (jws.SplitCompact), JWK and JWKS
// encoding and parsing, and RFC 7638 thumbprints (jwk). This package adds
// only what jwx alone does not decide:
//
//   - a size cap (MaxTokenSize) before anything is parsed;
//   - one spelling per token: unpadded base64url with canonical trailing
//     bits (jwx also accepts padding and the standard alphabet);
//   - header and claims must be UTF-8 JSON objects without duplicate member
//     names (compared case-insensitively, as encoding/json matches fields):
//     jwx and encoding/json would silently keep the last one;
//   - crit and b64 are refused, since no extension is understood;
//   - the algorithm comes from the caller's allow-list and must suit the
//     key's own type and size, never the token alone ("none" and HMAC are
//     not verification algorithms here at all);
//   - jku, x5u, x5c and jwk header members are never consulted: keys come
//     only from the caller.
//
// Parse does not verify: nothing in a Token may be trusted before
// Token.Verify returns nil.
package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Algorithm names (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	ES256 = "ES256"
	ES384 = "ES384"
	ES512 = "ES512"
	EdDSA = "EdDSA"
	RS256 = "RS256"
	RS384 = "RS384"
	RS512 = "RS512"
	PS256 = "PS256"
	PS384 = "PS384"
	PS512 = "PS512"
)

// signingAlgs are the algorithms gatehouse signs its own tokens with.
var signingAlgs = []string{ES256, EdDSA, RS256}

// verifyAlgs are the algorithms a token may be verified with (each still
// subject to the caller's allow-list): the asymmetric ones real identity
// providers publish. none and HMAC are deliberately absent.
var verifyAlgs = []string{RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA}

// MaxTokenSize is the largest compact token accepted (8 KiB). It bounds the
// work an unauthenticated caller can cause before the signature is checked.
const MaxTokenSize = 8 << 10

// RSA modulus bounds. The upper bound caps verification cost for keys that
// were not generated here (e.g. an IdP's JWKS).
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// Sentinel errors. Every error returned by this package for a bad token, key
// or JWK wraps one of them; the message after the sentinel says what is wrong
// and never contains the token.
var (
	ErrMalformed  = errors.New("jose: malformed")
	ErrTooLarge   = errors.New("jose: token too large")
	ErrAlgorithm  = errors.New("jose: unacceptable algorithm")
	ErrUnknownKey = errors.New("jose: unknown key")
	ErrSignature  = errors.New("jose: invalid signature")
)

// Supported reports whether gatehouse can sign its own tokens with alg.
func Supported(alg string) bool { return slices.Contains(signingAlgs, alg) }

// Verifiable reports whether alg may appear in a verification allow-list.
func Verifiable(alg string) bool { return slices.Contains(verifyAlgs, alg) }

// VerifyAlgorithms lists every algorithm Verifiable accepts.
func VerifyAlgorithms() []string { return slices.Clone(verifyAlgs) }

// PublicKey is a verification key bound to one algorithm. Key is an
// *ecdsa.PublicKey, an ed25519.PublicKey or an *rsa.PublicKey that suits
// Alg (see Verify).
type PublicKey struct {
	KID string
	Alg string
	Key crypto.PublicKey
}

// PrivateKey is a signing key. Key is an *ecdsa.PrivateKey, an
// ed25519.PrivateKey or an *rsa.PrivateKey, or any crypto.Signer whose public
// key is one of the types PublicKey accepts (e.g. a KMS-backed signer).
type PrivateKey struct {
	KID string
	Alg string
	Key crypto.Signer
}

// Public returns the verification half of k. Key is nil if k holds no usable
// signer.
func (k PrivateKey) Public() PublicKey {
	return PublicKey{KID: k.KID, Alg: k.Alg, Key: publicOf(k.Key)}
}

// publicOf is Signer.Public without the panics that nil or truncated keys
// of the standard types would cause.
func publicOf(s crypto.Signer) crypto.PublicKey {
	switch k := s.(type) {
	case nil:
		return nil
	case *ecdsa.PrivateKey:
		if k == nil {
			return nil
		}
	case *rsa.PrivateKey:
		if k == nil {
			return nil
		}
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil
		}
	}
	return s.Public()
}

// KeyFamily returns the algorithms pub may be used with: one for EC and
// Ed25519 keys (the curve decides), the RS* and PS* family for RSA keys.
// The error wraps ErrAlgorithm for keys gatehouse does not accept: other
// curves, RSA below 2048 or above 8192 bits or with a bad exponent, private
// keys, symmetric keys.
func KeyFamily(pub crypto.PublicKey) ([]string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil {
			return nil, fmt.Errorf("%w: no key", ErrAlgorithm)
		}
		switch k.Curve {
		case elliptic.P256():
			return []string{ES256}, nil
		case elliptic.P384():
			return []string{ES384}, nil
		case elliptic.P521():
			return []string{ES512}, nil
		}
		return nil, fmt.Errorf("%w: ECDSA key is not on P-256, P-384 or P-521", ErrAlgorithm)
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: Ed25519 key is %d bytes, want %d", ErrAlgorithm, len(k), ed25519.PublicKeySize)
		}
		return []string{EdDSA}, nil
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return nil, fmt.Errorf("%w: RSA key has no modulus", ErrAlgorithm)
		}
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return nil, fmt.Errorf("%w: RSA key is %d bits, want %d to %d", ErrAlgorithm, bits, minRSABits, maxRSABits)
		}
		if k.E < 3 || k.E%2 == 0 {
			return nil, fmt.Errorf("%w: RSA key has an invalid public exponent", ErrAlgorithm)
		}
		return []string{RS256, RS384, RS512, PS256, PS384, PS512}, nil
	case nil:
		return nil, fmt.Errorf("%w: no key", ErrAlgorithm)
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrAlgorithm, pub)
	}
}

// checkKey reports whether pub is an acceptable key for alg.
func checkKey(alg string, pub crypto.PublicKey) error {
	fam, err := KeyFamily(pub)
	if err != nil {
		return err
	}
	if !slices.Contains(fam, alg) {
		return fmt.Errorf("%w: %s key cannot be used with %s", ErrAlgorithm, fam[0], safeAlg(alg))
	}
	return nil
}

// safeAlg returns alg if it is one of the known names, so that token-chosen
// text is never echoed.
func safeAlg(alg string) string {
	if Verifiable(alg) {
		return alg
	}
	return "an unsupported algorithm"
}

// Reason returns the human part of an error from this package, without the
// sentinel's own text, for messages like "token is malformed: <reason>".
func Reason(err error) string {
	msg := err.Error()
	for _, s := range []error{ErrMalformed, ErrTooLarge, ErrAlgorithm, ErrUnknownKey, ErrSignature} {
		if errors.Is(err, s) {
			return strings.TrimPrefix(msg, s.Error()+": ")
		}
	}
	return msg
}
