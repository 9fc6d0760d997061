package secrets

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
)

// tokenBytes is the entropy of a RandomToken: 256 bits.
const tokenBytes = 32

// RandomToken returns prefix followed by 32 bytes from crypto/rand in
// unpadded base64url (43 characters), e.g. RandomToken("ghs_"). The prefix
// lets secret scanners and humans recognise the token's kind.
func RandomToken(prefix string) (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("secrets: generating token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// SecretHasher hashes high-entropy secrets (client secrets, refresh tokens)
// with HMAC-SHA-256. Such secrets are random, not human-chosen, so a fast
// keyed hash suffices where a password needs argon2id; the key (from
// MasterKey.Derive) means a leaked database alone does not allow checking
// guesses offline. It is safe for concurrent use.
type SecretHasher struct {
	key []byte
}

// minSecretHasherKey guards against a missing or truncated key, which would
// silently make the hashes (nearly) unkeyed.
const minSecretHasherKey = 16

// NewSecretHasher returns a SecretHasher keyed with a copy of key, normally
// 32 bytes from MasterKey.Derive. It panics if key is shorter than 16 bytes:
// that is a programming error, and carrying on would weaken every hash.
func NewSecretHasher(key []byte) *SecretHasher {
	if len(key) < minSecretHasherKey {
		panic(fmt.Sprintf("secrets: SecretHasher key is %d bytes, want at least %d", len(key), minSecretHasherKey))
	}
	return &SecretHasher{key: bytes.Clone(key)}
}

// Hash returns the 32-byte HMAC-SHA-256 of secret, for storage.
func (s *SecretHasher) Hash(secret string) []byte {
	m := hmac.New(sha256.New, s.key)
	_, _ = io.WriteString(m, secret) // a hash.Hash never fails to write
	return m.Sum(nil)
}

// Equal reports in constant time whether secret hashes to stored.
func (s *SecretHasher) Equal(secret string, stored []byte) bool {
	return hmac.Equal(s.Hash(secret), stored)
}

// DeriveToken returns prefix followed by 32 bytes in unpadded base64url
// (the shape of a RandomToken) computed from `from` with HMAC-SHA-256 under
// a key derived from the hasher's key for purpose. Whoever holds the
// hasher's key recomputes the same token from the same input, nobody else
// can: it lets gatehouse answer a retried request with the token it already
// issued while storing only that token's Hash. The purpose separates the
// derived key from the hashing key and from other purposes, so a derived
// token is never the stored hash of anything.
func (s *SecretHasher) DeriveToken(purpose, prefix, from string) (string, error) {
	sub, err := hkdf.Expand(sha256.New, s.key, "gatehouse derived token: "+purpose, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("secrets: deriving token key: %w", err)
	}
	m := hmac.New(sha256.New, sub)
	_, _ = io.WriteString(m, from) // a hash.Hash never fails to write
	return prefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}
