package secrets

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
)

func TestDeriveToken(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	h := NewSecretHasher(key)
	shape := regexp.MustCompile(`^ghr_[A-Za-z0-9_-]{43}$`)
	a, err := h.DeriveToken("refresh-successor", "ghr_", "ghr_input")
	if err != nil {
		t.Fatal(err)
	}
	if !shape.MatchString(a) {
		t.Fatalf("derived token %q does not have the shape of a RandomToken", a)
	}
	// Deterministic under the same key, also in a new hasher (a restart).
	if again, _ := NewSecretHasher(bytes.Clone(key)).DeriveToken("refresh-successor", "ghr_", "ghr_input"); again != a {
		t.Error("the same key and input derived a different token")
	}
	// Different input, purpose or key: a different token; never the hash.
	other := NewSecretHasher(bytes.Repeat([]byte{8}, 32))
	for name, f := range map[string]func() (string, error){
		"input":   func() (string, error) { return h.DeriveToken("refresh-successor", "ghr_", "ghr_inpuT") },
		"purpose": func() (string, error) { return h.DeriveToken("other", "ghr_", "ghr_input") },
		"key":     func() (string, error) { return other.DeriveToken("refresh-successor", "ghr_", "ghr_input") },
	} {
		b, err := f()
		if err != nil || b == a || strings.TrimPrefix(b, "ghr_") == strings.TrimPrefix(a, "ghr_") {
			t.Errorf("different %s derived %q, %v", name, b, err)
		}
	}
	if strings.TrimPrefix(a, "ghr_") == base64.RawURLEncoding.EncodeToString(h.Hash("ghr_input")) {
		t.Error("derived token contains the stored hash of its input")
	}
}
