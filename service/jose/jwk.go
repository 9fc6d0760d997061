package jose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"math/big"
	"math/bits"
)

// JWK is the public form of a JSON Web Key (RFC 7517). It has no members for
// private key material, so marshalling one can never leak a private key.
type JWK struct {
	Kty string `json:"kty,omitempty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// p256CoordSize is the length of a P-256 coordinate; JWK coordinates are
// always this long (RFC 7518 §6.2.1.2).
const p256CoordSize = 32

// PublicJWK returns k as a JWK with use "sig". k.Alg may be empty, in which
// case the algorithm implied by the key type is used.
func PublicJWK(k PublicKey) (JWK, error) {
	j, err := jwkMembers(k.Key)
	if err != nil {
		return JWK{}, err
	}
	if k.Alg != "" && k.Alg != j.Alg {
		return JWK{}, fmt.Errorf("%w: %s key cannot be used with alg %q", ErrAlgorithm, j.Alg, k.Alg)
	}
	j.Kid = k.KID
	j.Use = "sig"
	return j, nil
}

// jwkMembers returns the key-type members (kty, crv, x, y, n, e) and alg.
func jwkMembers(pub any) (JWK, error) {
	alg, err := keyAlg(pub)
	if err != nil {
		return JWK{}, err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		pt, err := k.Bytes() // 0x04 || X || Y
		if err != nil {
			return JWK{}, fmt.Errorf("%w: invalid P-256 key: %w", ErrAlgorithm, err)
		}
		return JWK{Kty: "EC", Alg: alg, Crv: "P-256",
			X: b64.EncodeToString(pt[1 : 1+p256CoordSize]),
			Y: b64.EncodeToString(pt[1+p256CoordSize:])}, nil
	case ed25519.PublicKey:
		return JWK{Kty: "OKP", Alg: alg, Crv: "Ed25519", X: b64.EncodeToString(k)}, nil
	case *rsa.PublicKey:
		if k.E < 3 || k.E%2 == 0 {
			return JWK{}, fmt.Errorf("%w: RSA key has an invalid public exponent", ErrAlgorithm)
		}
		e := big.NewInt(int64(k.E)).Bytes()
		return JWK{Kty: "RSA", Alg: alg, N: b64.EncodeToString(k.N.Bytes()), E: b64.EncodeToString(e)}, nil
	}
	return JWK{}, fmt.Errorf("%w: unsupported key type %T", ErrAlgorithm, pub)
}

// Thumbprint returns the RFC 7638 JWK thumbprint of k: the base64url SHA-256
// of the required members in lexicographic order, without whitespace. Only
// the key matters; k.KID and k.Alg are ignored.
func Thumbprint(k PublicKey) (string, error) {
	j, err := jwkMembers(k.Key)
	if err != nil {
		return "", err
	}
	// Member values are base64url or fixed names: nothing needs escaping.
	var canon string
	switch j.Kty {
	case "EC":
		canon = `{"crv":"` + j.Crv + `","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case "OKP":
		canon = `{"crv":"` + j.Crv + `","kty":"OKP","x":"` + j.X + `"}`
	case "RSA":
		canon = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	}
	sum := sha256.Sum256([]byte(canon))
	return b64.EncodeToString(sum[:]), nil
}

// ParsePublicJWK validates j and returns the key it describes. It requires
// use to be absent or "sig", alg to be absent or match the key type, an EC
// point on P-256, a 32-byte Ed25519 key, or an RSA modulus of 2048 to 8192
// bits with a small odd exponent, all in canonical unpadded base64url.
// Members that do not belong to the key type are rejected. Errors wrap
// ErrMalformed.
func ParsePublicJWK(j JWK) (PublicKey, error) {
	if j.Use != "" && j.Use != "sig" {
		return PublicKey{}, fmt.Errorf("%w: JWK use is not sig", ErrMalformed)
	}
	var pk PublicKey
	switch j.Kty {
	case "EC":
		if j.Crv != "P-256" {
			return PublicKey{}, fmt.Errorf("%w: EC JWK curve is not P-256", ErrMalformed)
		}
		if j.N != "" || j.E != "" {
			return PublicKey{}, fmt.Errorf("%w: EC JWK has RSA members", ErrMalformed)
		}
		x, okx := decodeJWKField(j.X)
		y, oky := decodeJWKField(j.Y)
		if !okx || !oky || len(x) != p256CoordSize || len(y) != p256CoordSize {
			return PublicKey{}, fmt.Errorf("%w: EC JWK x and y must be %d-byte base64url", ErrMalformed, p256CoordSize)
		}
		pt := make([]byte, 0, 1+2*p256CoordSize)
		pt = append(append(append(pt, 4), x...), y...)
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
		if err != nil {
			return PublicKey{}, fmt.Errorf("%w: EC JWK point is not on P-256", ErrMalformed)
		}
		pk = PublicKey{Alg: ES256, Key: key}
	case "OKP":
		if j.Crv != "Ed25519" {
			return PublicKey{}, fmt.Errorf("%w: OKP JWK curve is not Ed25519", ErrMalformed)
		}
		if j.Y != "" || j.N != "" || j.E != "" {
			return PublicKey{}, fmt.Errorf("%w: OKP JWK has members of other key types", ErrMalformed)
		}
		x, ok := decodeJWKField(j.X)
		if !ok || len(x) != ed25519.PublicKeySize {
			return PublicKey{}, fmt.Errorf("%w: OKP JWK x must be %d-byte base64url", ErrMalformed, ed25519.PublicKeySize)
		}
		pk = PublicKey{Alg: EdDSA, Key: ed25519.PublicKey(x)}
	case "RSA":
		if j.Crv != "" || j.X != "" || j.Y != "" {
			return PublicKey{}, fmt.Errorf("%w: RSA JWK has EC members", ErrMalformed)
		}
		key, err := parseRSAMembers(j.N, j.E)
		if err != nil {
			return PublicKey{}, err
		}
		pk = PublicKey{Alg: RS256, Key: key}
	case "":
		return PublicKey{}, fmt.Errorf("%w: JWK has no kty", ErrMalformed)
	default:
		return PublicKey{}, fmt.Errorf("%w: JWK kty is not EC, OKP or RSA", ErrMalformed)
	}
	if j.Alg != "" && j.Alg != pk.Alg {
		return PublicKey{}, fmt.Errorf("%w: JWK alg does not match its %s key", ErrMalformed, j.Kty)
	}
	pk.KID = j.Kid
	return pk, nil
}

// parseRSAMembers decodes n and e, which must be minimal big-endian
// integers (RFC 7518 §6.3.1).
func parseRSAMembers(n64, e64 string) (*rsa.PublicKey, error) {
	n, ok := decodeJWKField(n64)
	if !ok || len(n) == 0 || n[0] == 0 {
		return nil, fmt.Errorf("%w: RSA JWK n is not a minimal base64url integer", ErrMalformed)
	}
	if bits := (len(n)-1)*8 + bits.Len8(n[0]); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("%w: RSA JWK modulus is %d bits, want %d to %d", ErrMalformed, bits, minRSABits, maxRSABits)
	}
	if n[len(n)-1]&1 == 0 {
		return nil, fmt.Errorf("%w: RSA JWK modulus is even", ErrMalformed)
	}
	e, ok := decodeJWKField(e64)
	if !ok || len(e) == 0 || e[0] == 0 || len(e) > 4 {
		return nil, fmt.Errorf("%w: RSA JWK e is not a minimal base64url integer of at most 32 bits", ErrMalformed)
	}
	var exp uint32
	for _, c := range e {
		exp = exp<<8 | uint32(c)
	}
	if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
		return nil, fmt.Errorf("%w: RSA JWK exponent must be odd, at least 3 and below 2^31", ErrMalformed)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}, nil
}

// decodeJWKField decodes a base64url JWK member with the same strictness as
// token segments, so each key has exactly one accepted encoding.
func decodeJWKField(s string) ([]byte, bool) {
	if !isBase64URL(s) {
		return nil, false
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, false
	}
	return b, true
}
