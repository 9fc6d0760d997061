package core

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/service/errs"
)

func TestCanonicalUsername(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want "" expects InvalidArgument
	}{
		{"lower-case ASCII unchanged", "alice", "alice"},
		{"case folded", "Alice", "alice"},
		{"upper case", "ALICE", "alice"},
		{"punctuation kept", "a.b_c-d@example.com", "a.b_c-d@example.com"},
		{"full-width letters width-mapped", "ａｄｍｉｎ", "admin"},
		{"full-width upper-case", "ＡＤＭＩＮ", "admin"},
		// U+212A KELVIN SIGN is canonically equivalent to K (NFC), so the
		// profile maps it to k: the same account as "kelvin", not a new one.
		{"Kelvin sign is the letter k", "\u212Aelvin", "kelvin"},
		// strings.ToLower made this "admin"; the profile keeps the dot
		// (i + U+0307), which the ASCII policy refuses.
		{"dotted capital I refused", "ADM\u0130N", ""},
		{"dotless i refused", "adm\u0131n", ""},
		{"Cyrillic a mixed with Latin refused", "\u0430dmin", ""},
		{"Greek omicron mixed with Latin refused", "r\u03bfot", ""},
		{"all Cyrillic refused by the ASCII policy", "админ", ""},
		{"space refused", "ad min", ""},
		{"trailing space refused", "admin ", ""},
		{"zero-width joiner refused", "admin\u200d", ""},
		{"combining accent refused", "jose\u0301", ""},
		{"control refused", "ad\x00min", ""},
		{"empty refused", "", ""},
		{"invalid UTF-8 refused", "ad\xffmin", ""},
		{"leading dot refused", ".admin", ""},
		{"too long refused", strings.Repeat("a", 129), ""},
		{"huge input refused", strings.Repeat("a", 5000), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CanonicalUsername(tc.in)
			if tc.want == "" {
				if err == nil || errs.KindOf(err) != errs.InvalidArgument {
					t.Fatalf("CanonicalUsername(%q) = %q, %v; want InvalidArgument", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CanonicalUsername(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			// Idempotent: the canonical form is its own canonical form.
			if again, err := CanonicalUsername(got); err != nil || again != got {
				t.Errorf("not idempotent: %q -> %q, %v", got, again, err)
			}
		})
	}
	_, err := CanonicalUsername("\u0430dmin")
	if e := errs.As(err); !strings.Contains(e.Message, "Latin and Cyrillic") {
		t.Errorf("mixed-script message = %q, want it to name the scripts", e.Message)
	}
}

func TestCanonicalEmail(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want "-" expects InvalidArgument
	}{
		{"empty stays empty", "", ""},
		{"plain", "alice@example.com", "alice@example.com"},
		{"ASCII letters lower-cased", "Alice.Smith@Example.COM", "alice.smith@example.com"},
		{"non-ASCII local part not case-mapped", "JÜRGEN@example.com", "jÜrgen@example.com"},
		{"dotted capital I not folded to i", "ADM\u0130N@example.com", "adm\u0130n@example.com"},
		{"IDN domain to punycode", "hans@bücher.de", "hans@xn--bcher-kva.de"},
		{"upper-case IDN domain", "hans@BÜCHER.de", "hans@xn--bcher-kva.de"},
		{"punycode domain kept", "hans@xn--bcher-kva.de", "hans@xn--bcher-kva.de"},
		{"all-Cyrillic domain label allowed", "ivan@пример.рф", "ivan@xn--e1afmkfd.xn--p1ai"},
		{"non-ASCII local part as given", "jürgen@example.com", "jürgen@example.com"},
		{"Cyrillic a in a Latin domain label", "alice@ex\u0430mple.com", "-"},
		{"the same look-alike as punycode", "alice@xn--exmple-4nf.com", "-"},
		{"Cyrillic o in a Latin local part", "r\u043eot@example.com", "-"},
		{"Greek letter in a Latin local part", "\u03b1lice@example.com", "-"},
		{"display name refused", "Alice <alice@example.com>", "-"},
		{"no domain", "alice", "-"},
		{"underscore in domain", "alice@exa_mple.com", "-"},
		{"bad punycode", "alice@xn--zz.com", "-"},
		{"invalid UTF-8", "al\xffce@example.com", "-"},
		{"too long", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + "." + strings.Repeat("e", 63) + ".com", "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CanonicalEmail(tc.in)
			if tc.want == "-" {
				if err == nil || errs.KindOf(err) != errs.InvalidArgument {
					t.Fatalf("CanonicalEmail(%q) = %q, %v; want InvalidArgument", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CanonicalEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if again, err := CanonicalEmail(got); err != nil || again != got {
				t.Errorf("not idempotent: %q -> %q, %v", got, again, err)
			}
		})
	}
}

func TestMixedScripts(t *testing.T) {
	for in, want := range map[string]string{
		"admin":          "",
		"админ":          "",
		"αβγ":            "",
		"user-42.x":      "",
		"\u0430dmin":     "Latin and Cyrillic",
		"p\u03b1ypal":    "Latin and Greek",
		"\u0430\u03b1":   "Greek and Cyrillic",
		"a\u03b1\u0430":  "Latin and Greek and Cyrillic",
		"straße-ǆ":       "",
		"日本語abc":         "",
		"":               "",
		"123-_.@example": "",
	} {
		if got := mixedScripts(in); got != want {
			t.Errorf("mixedScripts(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNamePatternsKeepTheirBounds: each name pattern accepts what the
// bounded expression it replaces accepted, up to its length exactly.
func TestNamePatternsKeepTheirBounds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       namePattern
		bounded string
		alpha   string // characters of the class, and some outside it
	}{
		{"username", usernamePattern, `^[a-z0-9][a-z0-9._@-]{0,127}$`, "a0._@-A:/ é"},
		{"client id", clientIDPattern, `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`, "aZ9._-:/@ "},
		{"role", rolePattern, `^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`, "aZ9._:/-@ "},
		{"claim name", claimNamePattern, `^[A-Za-z][A-Za-z0-9_.:-]{0,63}$`, "aZ9_.:-/@ "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := regexp.MustCompile(tc.bounded)
			for n := 0; n <= tc.p.max+2; n++ {
				for i, c := range tc.alpha {
					// A name of length n made of the class's first
					// character, with c at one place.
					s := []byte(strings.Repeat(tc.alpha[:1], n))
					if n > 0 {
						s = append(s[:i%n], append([]byte(string(c)), s[i%n+1:]...)...)
					}
					if got, w := tc.p.MatchString(string(s)), want.MatchString(string(s)); got != w {
						t.Fatalf("%q (%d bytes): match %v, the bounded expression %v", s, len(s), got, w)
					}
				}
			}
			if !tc.p.MatchString(strings.Repeat(tc.alpha[:1], tc.p.max)) || tc.p.MatchString(strings.Repeat(tc.alpha[:1], tc.p.max+1)) {
				t.Errorf("the bound is not %d", tc.p.max)
			}
		})
	}
}
