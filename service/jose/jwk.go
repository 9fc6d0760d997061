package jose

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// PublicJWK returns k as a jwx JWK with kid, alg and use "sig". k.Alg may be
// empty for EC and Ed25519 keys, whose curve implies it.
func PublicJWK(k PublicKey) (jwk.Key, error) {
	fam, err := KeyFamily(k.Key)
	if err != nil {
		return nil, err
	}
	alg := k.Alg
	if alg == "" && len(fam) == 1 {
		alg = fam[0]
	}
	if !slices.Contains(fam, alg) {
		return nil, fmt.Errorf("%w: %s key cannot be used with alg %q", ErrAlgorithm, fam[0], alg)
	}
	j, err := jwk.FromRaw(k.Key)
	if err != nil {
		return nil, fmt.Errorf("jose: encoding JWK: %w", err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: k.KID, jwk.AlgorithmKey: jwa.SignatureAlgorithm(alg), jwk.KeyUsageKey: jwk.ForSignature} {
		if name == jwk.KeyIDKey && k.KID == "" {
			continue
		}
		if err := j.Set(name, v); err != nil {
			return nil, fmt.Errorf("jose: encoding JWK %s: %w", name, err)
		}
	}
	return j, nil
}

// MarshalJWKS encodes keys as an RFC 7517 JWK Set, {"keys":[...]}, each key
// with only the members RFC 7517/7518/8037 define for its type.
func MarshalJWKS(keys []PublicKey) ([]byte, error) {
	set := jwk.NewSet()
	for _, k := range keys {
		j, err := PublicJWK(k)
		if err != nil {
			return nil, err
		}
		if err := set.AddKey(j); err != nil {
			return nil, fmt.Errorf("jose: JWKS: %w", err)
		}
	}
	return json.Marshal(set)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of k's key, unpadded
// base64url. k.KID and k.Alg are ignored.
func Thumbprint(k PublicKey) (string, error) {
	if _, err := KeyFamily(k.Key); err != nil {
		return "", err
	}
	j, err := jwk.FromRaw(k.Key)
	if err != nil {
		return "", fmt.Errorf("jose: encoding JWK: %w", err)
	}
	sum, err := j.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jose: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// ParseJWK applies gatehouse's key policy to a JWK that jwx parsed: a public
// EC, OKP (Ed25519) or RSA key that KeyFamily accepts, use absent or "sig",
// key_ops absent or containing "verify", and alg absent or one of the key's
// family. The result's Alg is the JWK's alg, or the one the curve implies,
// or "" for an RSA key without alg (usable with any RS*/PS* algorithm the
// caller allows). Errors wrap ErrMalformed.
func ParseJWK(j jwk.Key) (PublicKey, error) {
	if j == nil {
		return PublicKey{}, fmt.Errorf("%w: no JWK", ErrMalformed)
	}
	switch j.KeyType() {
	case jwa.EC, jwa.OKP, jwa.RSA:
	default:
		return PublicKey{}, fmt.Errorf("%w: JWK kty is not EC, OKP or RSA", ErrMalformed)
	}
	if u := j.KeyUsage(); u != "" && u != string(jwk.ForSignature) {
		return PublicKey{}, fmt.Errorf("%w: JWK use is not sig", ErrMalformed)
	}
	if ops := j.KeyOps(); ops != nil && !slices.Contains(ops, jwk.KeyOpVerify) {
		return PublicKey{}, fmt.Errorf(`%w: JWK key_ops does not contain "verify"`, ErrMalformed)
	}
	var raw any
	if err := j.Raw(&raw); err != nil {
		return PublicKey{}, fmt.Errorf("%w: JWK does not hold a usable key", ErrMalformed)
	}
	fam, err := KeyFamily(raw)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: JWK %s", ErrMalformed, Reason(err))
	}
	if ec, ok := raw.(*ecdsa.PublicKey); ok {
		// jwx does not check the point; crypto/ecdh does.
		if _, err := ec.ECDH(); err != nil {
			return PublicKey{}, fmt.Errorf("%w: JWK EC point is not on its curve", ErrMalformed)
		}
	}
	alg := ""
	if a := j.Algorithm(); a != nil {
		alg = a.String()
	}
	switch {
	case alg != "" && !slices.Contains(fam, alg):
		return PublicKey{}, fmt.Errorf("%w: JWK alg does not match its %s key", ErrMalformed, j.KeyType())
	case alg == "" && len(fam) == 1:
		alg = fam[0]
	}
	return PublicKey{KID: j.KeyID(), Alg: alg, Key: raw}, nil
}

// ParseJWKJSON parses one JWK in JSON with jwk.ParseKey and ParseJWK.
func ParseJWKJSON(b []byte) (PublicKey, error) {
	j, err := jwk.ParseKey(b)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%w: JWK does not parse", ErrMalformed)
	}
	return ParseJWK(j)
}
