package main

import (
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// jwxVerifier verifies tokens with github.com/lestrrat-go/jwx/v2 against a
// JWK set: mode "verify" is jws.Verify (signature only), mode "parse" is
// jwt.Parse with signature verification and claim validation (exp, nbf,
// iat).
type jwxVerifier struct {
	set   jwk.Set
	mode  string
	infer bool
	sub   []jws.WithKeySetSuboption
}

// newReferenceVerifier parses the JWKS with jwx.
func newReferenceVerifier(jwksJSON []byte, mode string) (tokenVerifier, error) {
	switch mode {
	case jwxModeVerify, jwxModeParse:
	default:
		return nil, fmt.Errorf("jwx: unknown mode %q", mode)
	}
	set, sub, err := parseKeySet(jwksJSON)
	if err != nil {
		return nil, err
	}
	return &jwxVerifier{set: set, mode: mode, infer: len(sub) > 0, sub: sub}, nil
}

// parseKeySet parses a JWKS with jwx and returns the key-set suboptions
// verification needs: jwx insists on an "alg" per key, so when a key has
// none it is told to infer the algorithm from the key type.
func parseKeySet(jwksJSON []byte) (jwk.Set, []jws.WithKeySetSuboption, error) {
	set, err := jwk.Parse(jwksJSON)
	if err != nil {
		return nil, nil, fmt.Errorf("jwx: parse JWKS: %w", err)
	}
	if set.Len() == 0 {
		return nil, nil, errors.New("jwx: JWKS has no keys")
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if a := k.Algorithm(); a == nil || a.String() == "" {
			return set, []jws.WithKeySetSuboption{jws.WithInferAlgorithmFromKey(true)}, nil
		}
	}
	return set, nil, nil
}

func (v *jwxVerifier) newWorker() func([]byte) error {
	if v.mode == jwxModeParse {
		sub := make([]any, len(v.sub))
		for i, s := range v.sub {
			sub[i] = s
		}
		opts := []jwt.ParseOption{jwt.WithKeySet(v.set, sub...), jwt.WithValidate(true)}
		return func(tok []byte) error {
			_, err := jwt.Parse(tok, opts...)
			return err // the caller tags it "jwx verify"
		}
	}
	opt := jws.WithKeySet(v.set, v.sub...)
	return func(tok []byte) error {
		_, err := jws.Verify(tok, opt)
		return err // the caller tags it "jwx verify"
	}
}

func (v *jwxVerifier) describe() string {
	s := "jwx/v2 jws.Verify"
	if v.mode == jwxModeParse {
		s = "jwx/v2 jwt.Parse+validate"
	}
	if v.infer {
		s += " (alg inferred from key)"
	}
	return fmt.Sprintf("%s, %d key(s)", s, v.set.Len())
}
