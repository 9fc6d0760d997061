package secrets

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

func TestRandomToken(t *testing.T) {
	charset := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	for _, prefix := range []string{"", "ghs_", "ghr_", "a-long-prefix."} {
		t.Run(prefix, func(t *testing.T) {
			seen := make(map[string]bool)
			for range 1000 {
				tok, err := RandomToken(prefix)
				if err != nil {
					t.Fatal(err)
				}
				body, ok := strings.CutPrefix(tok, prefix)
				if !ok {
					t.Fatalf("token %q lacks prefix %q", tok, prefix)
				}
				if len(tok) != len(prefix)+43 || !charset.MatchString(body) {
					t.Fatalf("token %q: want prefix + 43 base64url characters", tok)
				}
				raw, err := base64.RawURLEncoding.DecodeString(body)
				if err != nil || len(raw) != 32 {
					t.Fatalf("token body decodes to %d bytes, %v; want 32", len(raw), err)
				}
				if seen[tok] {
					t.Fatalf("duplicate token %q", tok)
				}
				seen[tok] = true
			}
		})
	}
}

func TestSecretHasher(t *testing.T) {
	key1 := bytes.Repeat([]byte{1}, 32)
	key2 := bytes.Repeat([]byte{2}, 32)
	s1, s2 := NewSecretHasher(key1), NewSecretHasher(key2)

	const secret = "ghs_0123456789abcdefghijklmnopqrstuvwxyzABCDE"
	stored := s1.Hash(secret)
	if len(stored) != 32 {
		t.Fatalf("Hash is %d bytes, want 32", len(stored))
	}
	if !bytes.Equal(stored, s1.Hash(secret)) {
		t.Fatal("Hash is not deterministic")
	}
	if bytes.Contains(stored, []byte(secret)) {
		t.Fatal("Hash contains the secret")
	}

	// The hasher keeps its own copy of the key.
	key1[0] = 99
	if !bytes.Equal(stored, s1.Hash(secret)) {
		t.Fatal("changing the caller's key slice changed the hasher")
	}

	for _, tc := range []struct {
		name   string
		s      *SecretHasher
		secret string
		stored []byte
		want   bool
	}{
		{"same", s1, secret, stored, true},
		{"other secret", s1, secret + "x", stored, false},
		{"prefix of secret", s1, secret[:len(secret)-1], stored, false},
		{"empty secret", s1, "", stored, false},
		{"other key", s2, secret, stored, false},
		{"nil stored", s1, secret, nil, false},
		{"truncated stored", s1, secret, stored[:16], false},
		{"extended stored", s1, secret, append(bytes.Clone(stored), 0), false},
		{"flipped stored", s1, secret, flipLast(stored), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Equal(tc.secret, tc.stored); got != tc.want {
				t.Fatalf("Equal = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewSecretHasherRefusesShortKey(t *testing.T) {
	for _, key := range [][]byte{nil, {}, make([]byte, 15)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewSecretHasher(%d-byte key) did not panic", len(key))
				}
			}()
			NewSecretHasher(key)
		}()
	}
}

func flipLast(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 1
	return c
}

func BenchmarkSecretHash(b *testing.B) {
	s := NewSecretHasher(make([]byte, 32))
	secret, err := RandomToken("ghs_")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Hash(secret)
	}
}
