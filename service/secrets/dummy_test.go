package secrets

import "testing"

// The dummy hash must make VerifyDummy do Verify's work with the hasher's
// own parameters: parse, then argon2id with the same cost.
func TestDummyHashHasHasherParams(t *testing.T) {
	for _, p := range []Params{
		DefaultParams(),
		{Memory: 64, Time: 3, Threads: 2, SaltLen: 8, KeyLen: 16},
	} {
		h, err := NewHasher(p)
		if err != nil {
			t.Fatalf("NewHasher(%+v): %v", p, err)
		}
		x, err := parsePHC(h.dummy)
		if err != nil {
			t.Fatalf("dummy %q does not parse: %v", h.dummy, err)
		}
		if x.params() != p {
			t.Errorf("dummy params = %+v, want %+v", x.params(), p)
		}
		if ok, _, err := h.Verify(h.dummy, "anything"); ok || err != nil {
			t.Errorf("Verify(dummy) = %v, %v; want false, nil", ok, err)
		}
	}
}
