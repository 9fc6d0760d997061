package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// GenerateKey makes a new signing key for alg from crypto/rand; RS256 keys
// are 2048 bits (see GenerateRSAKey for larger ones). The KID is the key's
// RFC 7638 thumbprint, so it is stable and derivable from the public key.
func GenerateKey(alg string) (PrivateKey, error) {
	var s crypto.Signer
	switch alg {
	case ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return PrivateKey{}, fmt.Errorf("jose: generating ES256 key: %w", err)
		}
		s = k
	case EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return PrivateKey{}, fmt.Errorf("jose: generating EdDSA key: %w", err)
		}
		s = k
	case RS256:
		return GenerateRSAKey(minRSABits)
	default:
		return PrivateKey{}, fmt.Errorf("%w: cannot generate a key for an unsupported algorithm", ErrAlgorithm)
	}
	return withThumbprint(alg, s)
}

// GenerateRSAKey makes a new RS256 key of the given size, which must be
// between 2048 and 8192 bits.
func GenerateRSAKey(bits int) (PrivateKey, error) {
	if bits < minRSABits || bits > maxRSABits {
		return PrivateKey{}, fmt.Errorf("%w: RSA key size %d is outside %d to %d bits", ErrAlgorithm, bits, minRSABits, maxRSABits)
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("jose: generating RSA key: %w", err)
	}
	return withThumbprint(RS256, k)
}

// withThumbprint returns s as a PrivateKey whose KID is its thumbprint.
func withThumbprint(alg string, s crypto.Signer) (PrivateKey, error) {
	kid, err := Thumbprint(PublicKey{Alg: alg, Key: s.Public()})
	if err != nil {
		return PrivateKey{}, err
	}
	return PrivateKey{KID: kid, Alg: alg, Key: s}, nil
}

// MarshalPrivate returns k's private key as PKCS #8 DER. The bytes are
// secret: the caller must encrypt them before storing them.
func MarshalPrivate(k PrivateKey) ([]byte, error) {
	if !Supported(k.Alg) {
		return nil, fmt.Errorf("%w: cannot export a key for an unsupported algorithm", ErrAlgorithm)
	}
	switch k.Key.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey:
	default:
		return nil, fmt.Errorf("jose: cannot export a %T as PKCS #8", k.Key)
	}
	if err := checkKey(k.Alg, publicOf(k.Key)); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, fmt.Errorf("jose: encoding private key: %w", err)
	}
	return der, nil
}

// UnmarshalPrivate parses a PKCS #8 DER key written by MarshalPrivate and
// checks that it suits alg. An empty kid is replaced by the key's thumbprint.
func UnmarshalPrivate(alg, kid string, der []byte) (PrivateKey, error) {
	if !Supported(alg) {
		return PrivateKey{}, fmt.Errorf("%w: cannot load a key for an unsupported algorithm", ErrAlgorithm)
	}
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%w: private key is not PKCS #8 DER: %w", ErrMalformed, err)
	}
	var s crypto.Signer
	switch k := raw.(type) {
	case *ecdsa.PrivateKey:
		s = k
	case ed25519.PrivateKey:
		s = k
	case *rsa.PrivateKey:
		s = k
	default:
		return PrivateKey{}, fmt.Errorf("%w: PKCS #8 key of type %T cannot sign JWS", ErrAlgorithm, raw)
	}
	if err := checkKey(alg, s.Public()); err != nil {
		return PrivateKey{}, err
	}
	if kid == "" {
		return withThumbprint(alg, s)
	}
	return PrivateKey{KID: kid, Alg: alg, Key: s}, nil
}
