package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func newTestMasterKey(t testing.TB) *MasterKey {
	t.Helper()
	m, _, err := GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSealOpenRoundTrip(t *testing.T) {
	m := newTestMasterKey(t)
	for _, tc := range []struct {
		name          string
		plaintext, ad []byte
	}{
		{"typical", []byte("-----BEGIN PRIVATE KEY-----..."), []byte("signing-key:kid-1")},
		{"empty plaintext", nil, []byte("x")},
		{"no AD", []byte("secret"), nil},
		{"binary", bytes.Repeat([]byte{0, 0xff}, 5000), []byte{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed, err := m.Seal(tc.plaintext, tc.ad)
			if err != nil {
				t.Fatal(err)
			}
			if len(sealed) != len(tc.plaintext)+sealOverhead || sealed[0] != sealVersion {
				t.Fatalf("sealed is %d bytes with version %d; want %d bytes, version %d",
					len(sealed), sealed[0], len(tc.plaintext)+sealOverhead, sealVersion)
			}
			if len(tc.plaintext) >= 6 && bytes.Contains(sealed, tc.plaintext[:6]) {
				t.Fatal("sealed contains plaintext")
			}
			got, err := m.Open(sealed, tc.ad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("Open = %q, want %q", got, tc.plaintext)
			}
		})
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	m := newTestMasterKey(t)
	a, _ := m.Seal([]byte("same"), nil)
	b, _ := m.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestOpenRefuses(t *testing.T) {
	m, other := newTestMasterKey(t), newTestMasterKey(t)
	ad := []byte("signing-key:kid-1")
	sealed, err := m.Seal([]byte("private key bytes"), ad)
	if err != nil {
		t.Fatal(err)
	}
	withVersion := func(v byte) []byte {
		c := bytes.Clone(sealed)
		c[0] = v
		return c
	}
	for _, tc := range []struct {
		name   string
		key    *MasterKey
		sealed []byte
		ad     []byte
	}{
		{"wrong key", other, sealed, ad},
		{"wrong AD", m, sealed, []byte("signing-key:kid-2")},
		{"missing AD", m, sealed, nil},
		{"AD with extra byte", m, sealed, append(bytes.Clone(ad), 0)},
		{"version 0", m, withVersion(0), ad},
		{"version 2", m, withVersion(2), ad},
		{"nil", m, nil, ad},
		{"overhead only", m, sealed[:sealOverhead], ad},
		{"extra byte", m, append(bytes.Clone(sealed), 0), ad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.key.Open(tc.sealed, tc.ad)
			if err == nil || got != nil {
				t.Fatalf("Open = %q, %v; want nil, error", got, err)
			}
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("error %v does not wrap ErrOpen", err)
			}
		})
	}

	t.Run("tampered at every position", func(t *testing.T) {
		for i := range sealed {
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				c := bytes.Clone(sealed)
				c[i] ^= mask
				if got, err := m.Open(c, ad); !errors.Is(err, ErrOpen) || got != nil {
					t.Fatalf("byte %d ^ %#x: Open = %q, %v; want nil, ErrOpen", i, mask, got, err)
				}
			}
		}
	})
	t.Run("truncated to every length", func(t *testing.T) {
		for n := range len(sealed) {
			if got, err := m.Open(sealed[:n], ad); !errors.Is(err, ErrOpen) || got != nil {
				t.Fatalf("length %d: Open = %q, %v; want nil, ErrOpen", n, got, err)
			}
		}
	})
	t.Run("swapped between rows", func(t *testing.T) {
		other, _ := m.Seal([]byte("other row's key"), []byte("signing-key:kid-2"))
		if _, err := m.Open(other, ad); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open of another row's blob = %v, want ErrOpen", err)
		}
	})
}

func TestSealOpenConcurrent(t *testing.T) {
	m := newTestMasterKey(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				pt := fmt.Appendf(nil, "%d/%d", i, j)
				sealed, err := m.Seal(pt, []byte("ad"))
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := m.Open(sealed, []byte("ad")); err != nil || !bytes.Equal(got, pt) {
					t.Errorf("Open = %q, %v; want %q", got, err, pt)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewMasterKey(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := NewMasterKey(make([]byte, n)); err == nil {
			t.Errorf("NewMasterKey(%d bytes) succeeded", n)
		}
	}
	raw := bytes.Repeat([]byte{7}, 32)
	m, err := NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	id := m.ID()
	raw[0] = 8 // the key keeps its own copy
	if m.ID() != id {
		t.Fatal("changing the caller's slice changed the key")
	}
}

func TestParseMasterKey(t *testing.T) {
	// Bytes chosen so that the standard and URL alphabets differ (+/ vs -_).
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(0xf8 + i%8)
	}
	want, err := NewMasterKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	std := base64.StdEncoding.EncodeToString(raw)
	url := base64.URLEncoding.EncodeToString(raw)
	if !strings.ContainsAny(std, "+/") || !strings.ContainsAny(url, "-_") {
		t.Fatalf("test key does not exercise both alphabets: %s %s", std, url)
	}
	hx := hex.EncodeToString(raw)
	mixed := strings.Replace(url, "-", "+", 1)
	if !strings.ContainsAny(mixed, "+/") || !strings.ContainsAny(mixed, "-_") {
		t.Fatalf("%s does not mix alphabets", mixed)
	}

	accepted := map[string]string{
		"std padded":     std,
		"std raw":        strings.TrimRight(std, "="),
		"url padded":     url,
		"url raw":        strings.TrimRight(url, "="),
		"hex lower":      hx,
		"hex upper":      strings.ToUpper(hx),
		"trailing LF":    std + "\n",
		"CRLF":           std + "\r\n",
		"spaces and tab": " \t" + hx + "  ",
	}
	for name, text := range accepted {
		t.Run("accept "+name, func(t *testing.T) {
			m, err := ParseMasterKey(text)
			if err != nil {
				t.Fatalf("ParseMasterKey: %v", err)
			}
			if m.key != want.key {
				t.Fatal("parsed a different key")
			}
		})
	}

	refused := map[string]string{
		"empty":           "",
		"whitespace":      " \n\t ",
		"31 bytes b64":    base64.StdEncoding.EncodeToString(raw[:31]),
		"33 bytes b64":    base64.StdEncoding.EncodeToString(append(bytes.Clone(raw), 1)),
		"16 bytes b64":    base64.RawURLEncoding.EncodeToString(raw[:16]),
		"63 hex digits":   hx[:63],
		"65 hex digits":   hx + "a",
		"62 hex digits":   hx[:62],
		"hex with 0x":     "0x" + hx,
		"hex with colons": strings.Join(regexp.MustCompile(`..`).FindAllString(hx, -1), ":"),
		"mixed alphabets": mixed,
		"inner space":     std[:20] + " " + std[20:],
		"bad padding":     strings.TrimRight(std, "=") + "===",
		"64 non-hex":      strings.Repeat("z", 64), // 48 bytes as base64
		"not text":        "\x00\x01\x02",
		"PEM-ish":         "-----BEGIN KEY-----\n" + std + "\n-----END KEY-----",
		"quoted":          `"` + std + `"`,
		"passphrase":      "correct horse battery staple",
	}
	for name, text := range refused {
		t.Run("refuse "+name, func(t *testing.T) {
			m, err := ParseMasterKey(text)
			if err == nil {
				// Only a real 32-byte decoding may succeed.
				t.Fatalf("ParseMasterKey = %v, nil; want error", m)
			}
			msg := err.Error()
			if s := strings.TrimSpace(text); len(s) >= 8 && strings.Contains(msg, s) {
				t.Fatalf("error %q contains the key text", msg)
			}
			if !strings.HasPrefix(msg, "secrets: invalid master key: ") {
				t.Errorf("error %q: want it to start with %q", msg, "secrets: invalid master key: ")
			}
		})
	}
}

func TestGenerateMasterKey(t *testing.T) {
	m1, text1, err := GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	m2, text2, err := GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	if text1 == text2 || m1.ID() == m2.ID() {
		t.Fatal("two generated keys are equal")
	}
	parsed, err := ParseMasterKey(text1)
	if err != nil {
		t.Fatalf("ParseMasterKey(generated text): %v", err)
	}
	sealed, err := m1.Seal([]byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parsed.Open(sealed, nil); err != nil {
		t.Fatalf("parsed text form cannot open what the key sealed: %v", err)
	}
}

func TestMasterKeyIDAndString(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, 32)
	m, _ := NewMasterKey(raw)
	id := m.ID()
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(id) {
		t.Fatalf("ID = %q, want 16 lowercase hex digits", id)
	}
	if m2, _ := NewMasterKey(raw); m2.ID() != id {
		t.Fatal("ID is not stable")
	}
	if newTestMasterKey(t).ID() == id {
		t.Fatal("different keys have the same ID")
	}
	hx := hex.EncodeToString(raw)
	b64 := base64.StdEncoding.EncodeToString(raw)
	for _, s := range []string{
		id, m.String(), fmt.Sprint(m), fmt.Sprintf("%v %+v %#v %s", m, m, m, m),
		fmt.Sprintf("%+v", struct{ Key *MasterKey }{m}),
	} {
		if strings.Contains(s, hx[:16]) || strings.Contains(s, b64[:16]) || strings.Contains(s, "171, 171") {
			t.Fatalf("%q reveals the key", s)
		}
	}
	if !strings.Contains(m.String(), id) {
		t.Fatalf("String() = %q, want it to show the ID", m.String())
	}
}

func TestDerive(t *testing.T) {
	m1, m2 := newTestMasterKey(t), newTestMasterKey(t)
	a := m1.Derive("secret-hasher")
	if len(a) != 32 {
		t.Fatalf("Derive is %d bytes, want 32", len(a))
	}
	if !bytes.Equal(a, m1.Derive("secret-hasher")) {
		t.Fatal("Derive is not deterministic")
	}
	if bytes.Equal(a, m1.key[:]) {
		t.Fatal("Derive returned the master key")
	}
	seen := map[string]string{}
	for _, purpose := range []string{"secret-hasher", "secret-hasher2", "Secret-hasher", "csrf", ""} {
		k := string(m1.Derive(purpose))
		if p, dup := seen[k]; dup {
			t.Fatalf("purposes %q and %q derive the same key", p, purpose)
		}
		seen[k] = purpose
	}
	if bytes.Equal(a, m2.Derive("secret-hasher")) {
		t.Fatal("different master keys derive the same key")
	}
}

func FuzzOpen(f *testing.F) {
	m, err := NewMasterKey(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		f.Fatal(err)
	}
	for _, ad := range []string{"", "signing-key:kid"} {
		sealed, err := m.Seal([]byte("plaintext"), []byte(ad))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(sealed, []byte(ad))
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1}, []byte("ad"))
	f.Add(make([]byte, sealOverhead), []byte{})
	f.Fuzz(func(t *testing.T, sealed, ad []byte) {
		got, err := m.Open(sealed, ad)
		if err == nil {
			// Forging GCM is out of a fuzzer's reach: only the seeds open.
			// (Their nonces are random, so each fuzz worker has other seeds.)
			if string(got) != "plaintext" {
				t.Fatalf("Open(%x, %q) = %q, nil", sealed, ad, got)
			}
		} else if !errors.Is(err, ErrOpen) || got != nil {
			t.Fatalf("Open = %q, %v; want nil, ErrOpen", got, err)
		}
		// And the fuzz input as plaintext round-trips.
		s, err := m.Seal(sealed, ad)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := m.Open(s, ad); err != nil || !bytes.Equal(back, sealed) {
			t.Fatalf("round trip = %q, %v", back, err)
		}
	})
}

func FuzzParseMasterKey(f *testing.F) {
	raw := bytes.Repeat([]byte{0xfb}, 32)
	f.Add(base64.StdEncoding.EncodeToString(raw))
	f.Add(base64.RawURLEncoding.EncodeToString(raw))
	f.Add(hex.EncodeToString(raw))
	f.Add(" " + hex.EncodeToString(raw) + "\n")
	f.Add("")
	f.Add(strings.Repeat("z", 64))
	f.Fuzz(func(t *testing.T, text string) {
		m, err := ParseMasterKey(text)
		if err != nil {
			if m != nil {
				t.Fatal("non-nil key with error")
			}
			if s := strings.TrimSpace(text); len(s) >= 32 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q contains the input", err)
			}
			return
		}
		// A parsed key's canonical text form parses to the same key.
		again, err := ParseMasterKey(base64.StdEncoding.EncodeToString(m.key[:]))
		if err != nil || again.key != m.key {
			t.Fatalf("reparse: %v", err)
		}
	})
}
