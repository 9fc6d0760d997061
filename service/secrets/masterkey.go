package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

const (
	masterKeyLen = 32 // AES-256
	sealVersion  = 1  // format of Seal's output; bump when it changes
	nonceLen     = 12 // GCM standard nonce
	tagLen       = 16 // GCM tag
	sealOverhead = 1 + nonceLen + tagLen
)

// ErrOpen is wrapped by every error of MasterKey.Open: the blob is too short,
// has an unknown format version, or does not authenticate (wrong master key,
// wrong associated data, or tampered).
var ErrOpen = errors.New("secrets: cannot open sealed data")

// MasterKey is a 32-byte AES-256 key that seals secrets at rest, such as
// signing private keys, and from which other keys are derived. It is safe for
// concurrent use. Its String method shows only its ID.
type MasterKey struct {
	key [masterKeyLen]byte
}

// NewMasterKey returns a MasterKey holding a copy of raw, which must be
// exactly 32 bytes.
func NewMasterKey(raw []byte) (*MasterKey, error) {
	if len(raw) != masterKeyLen {
		return nil, fmt.Errorf("secrets: master key is %d bytes, want %d", len(raw), masterKeyLen)
	}
	m := &MasterKey{}
	copy(m.key[:], raw)
	return m, nil
}

// ParseMasterKey parses a master key's text form: 32 bytes in base64
// (standard or URL alphabet, padded or not) or as 64 hex digits. Surrounding
// whitespace is ignored.
func ParseMasterKey(text string) (*MasterKey, error) {
	raw, err := decodeMasterKey(text)
	if err != nil {
		return nil, fmt.Errorf("secrets: invalid master key: %w", err)
	}
	return NewMasterKey(raw)
}

// decodeMasterKey's errors describe the text's shape, never its content.
func decodeMasterKey(text string) ([]byte, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return nil, errors.New("empty")
	}
	if len(s) == 2*masterKeyLen {
		if raw, err := hex.DecodeString(s); err == nil {
			return raw, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding,
	} {
		raw, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(raw) != masterKeyLen {
			return nil, fmt.Errorf("base64 decodes to %d bytes, want %d", len(raw), masterKeyLen)
		}
		return raw, nil
	}
	return nil, fmt.Errorf("want %d bytes as base64 or as %d hex digits (generate with: openssl rand -base64 32)",
		masterKeyLen, 2*masterKeyLen)
}

// GenerateMasterKey returns a new random master key and its text form
// (padded standard base64), which ParseMasterKey accepts.
func GenerateMasterKey() (*MasterKey, string, error) {
	var raw [masterKeyLen]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, "", fmt.Errorf("secrets: generating master key: %w", err)
	}
	m := &MasterKey{key: raw}
	return m, base64.StdEncoding.EncodeToString(raw[:]), nil
}

// Seal encrypts and authenticates plaintext with AES-256-GCM under a random
// nonce. The output is version byte || 12-byte nonce || ciphertext || tag.
//
// associatedData is authenticated but not stored; Open must be given the same
// value. Use it to bind a blob to its purpose and row (for example
// "signing-key:"+kid) so that blobs cannot be swapped between rows.
// With random 96-bit nonces one key may seal up to 2^32 blobs (NIST SP
// 800-38D), far more than sealing signing keys needs.
func (m *MasterKey) Seal(plaintext, associatedData []byte) ([]byte, error) {
	aead, err := m.aead()
	if err != nil {
		return nil, err
	}
	var nonce [nonceLen]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("secrets: generating nonce: %w", err)
	}
	out := make([]byte, 0, sealOverhead+len(plaintext))
	out = append(out, sealVersion)
	out = append(out, nonce[:]...)
	return aead.Seal(out, nonce[:], plaintext, sealAD(sealVersion, associatedData)), nil
}

// Open reverses Seal. Every failure wraps ErrOpen.
func (m *MasterKey) Open(sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrOpen, len(sealed))
	}
	if v := sealed[0]; v != sealVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrOpen, v)
	}
	aead, err := m.aead()
	if err != nil {
		return nil, err
	}
	nonce, ciphertext := sealed[1:1+nonceLen], sealed[1+nonceLen:]
	plaintext, err := aead.Open(nil, nonce, ciphertext, sealAD(sealed[0], associatedData))
	if err != nil {
		return nil, fmt.Errorf("%w: wrong master key (this is %s), wrong associated data, or tampered",
			ErrOpen, m.ID())
	}
	return plaintext, nil
}

// sealAD prefixes the caller's associated data with the format version, so a
// future format can never be confused with this one.
func sealAD(version byte, associatedData []byte) []byte {
	ad := make([]byte, 0, 1+len(associatedData))
	ad = append(ad, version)
	return append(ad, associatedData...)
}

// aead builds the cipher per call: key expansion is cheap next to what
// sealing is used for, and MasterKey stays a plain, immutable value.
func (m *MasterKey) aead() (cipher.AEAD, error) {
	block, err := aes.NewCipher(m.key[:])
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	return aead, nil
}

// ID returns a short, non-secret identifier of the key (16 hex digits), to
// tell in logs and errors which master key is in use.
func (m *MasterKey) ID() string {
	h := sha256.New()
	h.Write([]byte("gatehouse master key id"))
	h.Write(m.key[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Derive returns a 32-byte key for purpose (for example "secret-hasher"),
// derived with HKDF-SHA-256. Different purposes give independent keys, so the
// master key itself is only ever used for sealing.
func (m *MasterKey) Derive(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, m.key[:], nil, "gatehouse/"+purpose, 32)
	if err != nil {
		// Only a length beyond 255*32 bytes can fail.
		panic("secrets: hkdf: " + err.Error())
	}
	return k
}

// String shows the key's ID only, so printing a MasterKey cannot leak it.
func (m *MasterKey) String() string { return "secrets.MasterKey(" + m.ID() + ")" }

// GoString is String, for %#v.
func (m *MasterKey) GoString() string { return m.String() }
