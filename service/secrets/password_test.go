package secrets

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
)

// fastParams keep argon2id cheap so that tests run quickly under -race.
var fastParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newTestHasher(t testing.TB, p Params) *Hasher {
	t.Helper()
	h, err := NewHasher(p)
	if err != nil {
		t.Fatalf("NewHasher(%+v): %v", p, err)
	}
	return h
}

func TestHashVerifyDefaultParams(t *testing.T) {
	h := newTestHasher(t, DefaultParams())
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !want.MatchString(enc) {
		t.Fatalf("Hash = %q, does not match %v", enc, want)
	}
	ok, rehash, err := h.Verify(enc, "correct horse battery staple")
	if !ok || rehash || err != nil {
		t.Fatalf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, rehash, err = h.Verify(enc, "correct horse battery stapler")
	if ok || rehash || err != nil {
		t.Fatalf("Verify(wrong password) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := newTestHasher(t, fastParams)
	for _, pw := range []string{"", "password", "pässwörd ✓ 密码", strings.Repeat("x", 1024), "a\x00b"} {
		t.Run(fmt.Sprintf("len%d", len(pw)), func(t *testing.T) {
			enc, err := h.Hash(pw)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(enc, pw) && pw != "" {
				t.Fatal("hash contains the password")
			}
			if ok, rehash, err := h.Verify(enc, pw); !ok || rehash || err != nil {
				t.Fatalf("Verify(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
			}
			for _, wrong := range []string{pw + "x", strings.ToUpper(pw) + "!", "\x00"} {
				if ok, rehash, err := h.Verify(enc, wrong); ok || rehash || err != nil {
					t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
				}
			}
		})
	}
}

func TestHashUsesFreshSalt(t *testing.T) {
	h := newTestHasher(t, fastParams)
	a, _ := h.Hash("same password")
	b, _ := h.Hash("same password")
	if a == b {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newTestHasher(t, fastParams)
	const pw = "hunter22"
	good, err := h.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$") // "", alg, v, params, salt, hash
	join := func(fields ...string) string { return strings.Join(fields, "$") }
	salt, hash := f[4], f[5]
	flip := func(s string) string { // change the first character, keeping it base64
		c := byte('A')
		if s[0] == 'A' {
			c = 'B'
		}
		return string(c) + s[1:]
	}

	// Each of these must be refused with an error.
	malformed := map[string]string{
		"empty":                 "",
		"just dollars":          "$$$$$",
		"no leading dollar":     strings.TrimPrefix(good, "$"),
		"trailing dollar":       good + "$",
		"extra field":           join("", "argon2id", "v=19", "m=64,t=1,p=1", "data", salt, hash),
		"missing field":         join("", "argon2id", "m=64,t=1,p=1", salt, hash),
		"argon2i":               join("", "argon2i", f[2], f[3], salt, hash),
		"argon2d":               join("", "argon2d", f[2], f[3], salt, hash),
		"bcrypt":                "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"version 16":            join("", "argon2id", "v=16", f[3], salt, hash),
		"version empty":         join("", "argon2id", "v=", f[3], salt, hash),
		"version missing":       join("", "argon2id", "19", f[3], salt, hash),
		"params reordered":      join("", "argon2id", f[2], "t=1,m=64,p=1", salt, hash),
		"params missing p":      join("", "argon2id", f[2], "m=64,t=1", salt, hash),
		"params extra":          join("", "argon2id", f[2], "m=64,t=1,p=1,k=2", salt, hash),
		"params spaces":         join("", "argon2id", f[2], "m=64, t=1, p=1", salt, hash),
		"params empty value":    join("", "argon2id", f[2], "m=,t=1,p=1", salt, hash),
		"params sign":           join("", "argon2id", f[2], "m=+64,t=1,p=1", salt, hash),
		"params negative":       join("", "argon2id", f[2], "m=64,t=-1,p=1", salt, hash),
		"params leading zero":   join("", "argon2id", f[2], "m=064,t=1,p=1", salt, hash),
		"params hex":            join("", "argon2id", f[2], "m=0x40,t=1,p=1", salt, hash),
		"params overflow 32":    join("", "argon2id", f[2], "m=4294967296,t=1,p=1", salt, hash),
		"params overflow 8":     join("", "argon2id", f[2], "m=64,t=1,p=256", salt, hash),
		"params underscore":     join("", "argon2id", f[2], "m=6_4,t=1,p=1", salt, hash),
		"salt empty":            join("", f[1], f[2], f[3], "", hash),
		"salt padded":           join("", f[1], f[2], f[3], salt+"==", hash),
		"salt bad char":         join("", f[1], f[2], f[3], "!"+salt[1:], hash),
		"salt url alphabet":     join("", f[1], f[2], f[3], strings.Repeat("-", 22), hash),
		"salt non-canonical":    join("", f[1], f[2], f[3], salt[:21]+"B", hash), // trailing bits set
		"salt newline":          join("", f[1], f[2], f[3], salt[:10]+"\n"+salt[10:], hash),
		"salt too short":        join("", f[1], f[2], f[3], "AAAAAA", hash), // 4 bytes
		"salt too long":         join("", f[1], f[2], f[3], strings.Repeat("A", 88), hash),
		"hash empty":            join("", f[1], f[2], f[3], salt, ""),
		"hash truncated":        join("", f[1], f[2], f[3], salt, hash[:20]), // 15 bytes
		"hash too long":         join("", f[1], f[2], f[3], salt, strings.Repeat("A", 88)),
		"hash bad char":         join("", f[1], f[2], f[3], salt, "*"+hash[1:]),
		"hash with whitespace":  good + " ",
		"hash with line break":  good + "\n",
		"leading whitespace":    " " + good,
		"uppercase algorithm":   join("", "ARGON2ID", f[2], f[3], salt, hash),
		"unicode in params":     join("", f[1], f[2], "m=６４,t=1,p=1", salt, hash),
		"NUL":                   good[:10] + "\x00" + good[10:],
		"password in place":     pw,
		"argon2id prefix alone": "$argon2id$",
	}
	for name, enc := range malformed {
		t.Run(name, func(t *testing.T) {
			ok, rehash, err := h.Verify(enc, pw)
			if ok || rehash || err == nil {
				t.Fatalf("Verify = %v, %v, %v; want false, false, error", ok, rehash, err)
			}
			if !errors.Is(err, errMalformed) {
				t.Errorf("error %v does not wrap errMalformed", err)
			}
			if strings.Contains(err.Error(), salt) || strings.Contains(err.Error(), hash) || strings.Contains(err.Error(), pw) {
				t.Errorf("error %q echoes secret material", err)
			}
		})
	}

	// These parse but belong to another password or salt: plain false.
	mismatched := map[string]string{
		"hash changed":   join("", f[1], f[2], f[3], salt, flip(hash)),
		"salt changed":   join("", f[1], f[2], f[3], flip(salt), hash),
		"salt and hash":  join("", f[1], f[2], f[3], hash, salt[:21]+"A"),
		"params changed": join("", f[1], f[2], "m=72,t=1,p=1", salt, hash),
		"time changed":   join("", f[1], f[2], "m=64,t=2,p=1", salt, hash),
		"lanes changed":  join("", f[1], f[2], "m=64,t=1,p=2", salt, hash),
	}
	for name, enc := range mismatched {
		t.Run(name, func(t *testing.T) {
			if _, err := parsePHC(enc); err != nil {
				t.Fatalf("test input does not parse: %v", err)
			}
			ok, rehash, err := h.Verify(enc, pw)
			if ok || rehash || err != nil {
				t.Fatalf("Verify = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestVerifyRefusesAbsurdParams(t *testing.T) {
	h := newTestHasher(t, fastParams)
	const salt, hash = "c2FsdHNhbHRzYWx0c2FsdA", "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	// None of these may run argon2id: the first would allocate 4 GiB.
	for _, params := range []string{
		"m=4194304,t=1,p=1", // 4 GiB
		"m=1048577,t=1,p=1", // 1 GiB + 1 KiB
		"m=64,t=17,p=1",     // too many passes
		"m=64,t=4294967295,p=1",
		"m=64,t=0,p=1",
		"m=0,t=1,p=1",
		"m=7,t=1,p=1", // below 8 KiB per lane
		"m=64,t=1,p=9",
		"m=1024,t=1,p=65", // too many lanes
		"m=1024,t=1,p=0",
	} {
		t.Run(params, func(t *testing.T) {
			enc := "$argon2id$v=19$" + params + "$" + salt + "$" + hash
			ok, _, err := h.Verify(enc, "pw")
			if ok || err == nil {
				t.Fatalf("Verify = %v, %v; want false, error", ok, err)
			}
		})
	}
	// The upper bounds themselves are accepted (parsing only: running them
	// would take far too long).
	if _, err := parsePHC("$argon2id$v=19$m=1048576,t=16,p=64$" + salt + "$" + hash); err != nil {
		t.Fatalf("parsePHC at the bounds: %v", err)
	}
}

func TestNewHasherRefusesBadParams(t *testing.T) {
	for name, p := range map[string]Params{
		"zero":          {},
		"no time":       {Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		"no threads":    {Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		"little memory": {Memory: 15, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32},
		"huge memory":   {Memory: 2 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		"many passes":   {Memory: 64, Time: 100, Threads: 1, SaltLen: 16, KeyLen: 32},
		"short salt":    {Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		"long salt":     {Memory: 64, Time: 1, Threads: 1, SaltLen: 65, KeyLen: 32},
		"short key":     {Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
		"long key":      {Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 65},
	} {
		t.Run(name, func(t *testing.T) {
			if h, err := NewHasher(p); err == nil {
				t.Fatalf("NewHasher(%+v) = %v, nil; want error", p, h)
			}
		})
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	const pw = "rehash me please"
	base := newTestHasher(t, fastParams)
	enc, err := base.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	change := func(f func(*Params)) Params {
		p := fastParams
		f(&p)
		return p
	}
	for name, tc := range map[string]struct {
		p    Params
		want bool
	}{
		"same":    {fastParams, false},
		"memory":  {change(func(p *Params) { p.Memory = 128 }), true},
		"time":    {change(func(p *Params) { p.Time = 2 }), true},
		"threads": {change(func(p *Params) { p.Threads = 2 }), true},
		"salt":    {change(func(p *Params) { p.SaltLen = 32 }), true},
		"key":     {change(func(p *Params) { p.KeyLen = 64 }), true},
	} {
		t.Run(name, func(t *testing.T) {
			h := newTestHasher(t, tc.p)
			ok, rehash, err := h.Verify(enc, pw)
			if !ok || rehash != tc.want || err != nil {
				t.Fatalf("Verify(right) = %v, %v, %v; want true, %v, nil", ok, rehash, err, tc.want)
			}
			// A wrong password never asks for a rehash.
			if ok, rehash, err := h.Verify(enc, pw+"?"); ok || rehash || err != nil {
				t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
			// After rehashing with h, no further rehash is needed.
			enc2, err := h.Hash(pw)
			if err != nil {
				t.Fatal(err)
			}
			if ok, rehash, err := h.Verify(enc2, pw); !ok || rehash || err != nil {
				t.Fatalf("Verify(rehashed) = %v, %v, %v; want true, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestVerifyDummy(t *testing.T) {
	// Big enough that argon2id dominates the measurement.
	p := Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := newTestHasher(t, p)
	enc, err := h.Hash("some password")
	if err != nil {
		t.Fatal(err)
	}
	h.VerifyDummy("some password") // must not panic, returns nothing

	if testing.Short() {
		t.Skip("timing comparison skipped in -short mode")
	}
	// The minimum of several runs is robust against scheduling noise.
	minDuration := func(f func()) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 5 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	verify := minDuration(func() { _, _, _ = h.Verify(enc, "a guess") })
	dummy := minDuration(func() { h.VerifyDummy("a guess") })
	t.Logf("Verify %v, VerifyDummy %v", verify, dummy)
	if dummy*10 < verify*3 {
		t.Fatalf("VerifyDummy took %v, less than 0.3× Verify's %v: it does not run argon2id", dummy, verify)
	}
}

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		name, pw string
		wantErr  string // substring; "" means valid
	}{
		{"ok ascii", "abcdefgh", ""},
		{"ok long", strings.Repeat("a", 1024), ""},
		{"ok unicode", "пароль12", ""},
		{"ok emoji runes", "🔑🔑🔑🔑🔑🔑🔑🔑", ""}, // 8 runes, 32 bytes
		{"ok spaces", "        ", ""},
		{"empty", "", "at least 8 characters"},
		{"seven", "abcdefg", "at least 8 characters"},
		{"seven multibyte runes", "ééééééé", "at least 8 characters"}, // 14 bytes
		{"too long", strings.Repeat("a", 1025), "at most 1024 bytes"},
		{"too long multibyte", strings.Repeat("é", 513), "at most 1024 bytes"},
		{"NUL", "abcd\x00efgh", "NUL"},
		{"invalid UTF-8", "abcdefg\xff", "UTF-8"},
		{"surrogate half", "abcdefg\xed\xa0\x80", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePassword(tc.pw)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidatePassword = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ValidatePassword = %v, want error containing %q", err, tc.wantErr)
			}
			if errs.KindOf(err) != errs.InvalidArgument {
				t.Errorf("error kind = %v, want %v", errs.KindOf(err), errs.InvalidArgument)
			}
			if len(tc.pw) >= 4 && strings.Contains(err.Error(), tc.pw) {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	h := newTestHasher(f, fastParams)
	good, err := h.Hash("password")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "password")
	f.Add(good, "wrong")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "")
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$$", "x")
	f.Add("$argon2id$v=19$m=,t=,p=$$", "")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, encoded, password string) {
		x, perr := parsePHC(encoded)
		if perr != nil {
			// Refused strings must also be refused by Verify, cheaply.
			if ok, rehash, err := h.Verify(encoded, password); ok || rehash || err == nil {
				t.Fatalf("parsePHC failed (%v) but Verify = %v, %v, %v", perr, ok, rehash, err)
			}
			return
		}
		// The parser accepts only the canonical form it writes.
		if got := x.String(); got != encoded {
			t.Fatalf("re-encoding %q gives %q", encoded, got)
		}
		// Running argon2id with costs up to the bounds would be too slow
		// for a fuzz iteration; parsing is what is being fuzzed.
		if x.memory > 1024 || x.time > 2 || x.threads > 4 {
			return
		}
		ok, _, err := h.Verify(encoded, password)
		if err != nil {
			t.Fatalf("Verify of a parsable hash: %v", err)
		}
		// Only the seeded hashes of "password" can match; good itself differs
		// between fuzz worker processes, its salt being random.
		if ok && password != "password" {
			t.Fatalf("Verify(%q, %q) = true", encoded, password)
		}
	})
}

func BenchmarkHashDefault(b *testing.B) {
	h := newTestHasher(b, DefaultParams())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
