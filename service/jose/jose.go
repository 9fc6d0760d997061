// Package jose signs and strictly verifies compact JWS tokens (RFC 7515),
// used as JWT access tokens (RFC 7519, RFC 9068), and converts verification
// keys to and from JWK (RFC 7517, RFC 7638).
//
// Only ES256, EdDSA (Ed25519, RFC 8037) and RS256 (RFC 7518) exist here.
// Verification is deliberately narrow: the algorithm must be in the caller's
// allow-list and match the key, so the token alone never decides how it is
// checked; the jku, x5u, jwk and x5c header members are never read; crit and
// b64 are rejected because no extension is understood. Parse does not verify:
// nothing in a Token may be trusted before Token.Verify returns nil.
package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
)

// Algorithm names (RFC 7518 §3.1, RFC 8037 §3.1).
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// MaxTokenSize is the largest compact token accepted (8 KiB). It bounds the
// work an unauthenticated caller can cause before the signature is checked.
const MaxTokenSize = 8 << 10

// RSA modulus bounds. The upper bound caps verification cost for keys that
// were not generated here (e.g. parsed from a JWK).
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

// Supported reports whether alg is one gatehouse can sign and verify with.
func Supported(alg string) bool {
	switch alg {
	case ES256, EdDSA, RS256:
		return true
	}
	return false
}

// PublicKey is a verification key. Key is an *ecdsa.PublicKey on P-256, an
// ed25519.PublicKey or an *rsa.PublicKey of at least 2048 bits.
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

// keyAlg returns the one algorithm pub may be used with, or an error wrapping
// ErrAlgorithm if pub is not a key gatehouse accepts.
func keyAlg(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: ECDSA key is not on P-256", ErrAlgorithm)
		}
		return ES256, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", fmt.Errorf("%w: Ed25519 key is %d bytes, want %d", ErrAlgorithm, len(k), ed25519.PublicKeySize)
		}
		return EdDSA, nil
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "", fmt.Errorf("%w: RSA key has no modulus", ErrAlgorithm)
		}
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return "", fmt.Errorf("%w: RSA key is %d bits, want %d to %d", ErrAlgorithm, bits, minRSABits, maxRSABits)
		}
		return RS256, nil
	case nil:
		return "", fmt.Errorf("%w: no key", ErrAlgorithm)
	default:
		return "", fmt.Errorf("%w: unsupported key type %T", ErrAlgorithm, pub)
	}
}

// checkKey reports whether pub is an acceptable key for alg.
func checkKey(alg string, pub crypto.PublicKey) error {
	got, err := keyAlg(pub)
	if err != nil {
		return err
	}
	if got != alg {
		return fmt.Errorf("%w: %s key cannot be used with %s", ErrAlgorithm, got, alg)
	}
	return nil
}
