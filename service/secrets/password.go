package secrets

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/gatehouse/gatehouse/service/errs"
)

// Params are argon2id cost parameters (RFC 9106).
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes of hash output
}

// DefaultParams returns the OWASP-recommended argon2id configuration
// (m=19 MiB, t=2, p=1) with a 16-byte salt and a 32-byte hash.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// Bounds on argon2id parameters. They apply to stored hashes as well as to
// new hashers, so that a corrupted or planted hash cannot make a single login
// allocate gigabytes or run for minutes.
const (
	maxMemory  = 1 << 20 // KiB, i.e. 1 GiB
	maxTime    = 16
	maxThreads = 64
	minSaltLen = 8 // RFC 9106 §3.1 minimum
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("time %d is outside [1, %d]", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("threads %d is outside [1, %d]", p.Threads, maxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		// RFC 9106 §3.1 requires at least 8 KiB per lane; x/crypto would
		// silently round up, making the encoded parameters lie.
		return fmt.Errorf("memory %d KiB is outside [8*threads, %d]", p.Memory, maxMemory)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("salt length %d is outside [%d, %d]", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("hash length %d is outside [%d, %d]", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// Hasher hashes and checks passwords with argon2id. It is safe for concurrent
// use. Each check allocates Params.Memory KiB, so callers that accept
// unauthenticated requests should bound how many run at once.
type Hasher struct {
	params Params
	// dummy is a well-formed hash with params whose salt and key are
	// random bytes, so that VerifyDummy does exactly the work of Verify
	// (parse, argon2id, compare) without hashing anything up front: a
	// real hash would cost Params.Memory (19 MiB by default) of resident
	// memory and the time of one hash at every start.
	dummy string
}

// NewHasher returns a Hasher that creates hashes with p.
func NewHasher(p Params) (*Hasher, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("secrets: invalid argon2id params: %w", err)
	}
	salt, key := make([]byte, p.SaltLen), make([]byte, p.KeyLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("secrets: generating the dummy hash: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secrets: generating the dummy hash: %w", err)
	}
	h := &Hasher{params: p}
	h.dummy = phc{memory: p.Memory, time: p.Time, threads: p.Threads, salt: salt, key: key}.String()
	return h, nil
}

// Hash returns password's argon2id hash as a PHC string:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with salt and hash in unpadded standard base64, as the reference
// implementation writes them. Hash applies no password policy; see
// ValidatePassword.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("secrets: generating salt: %w", err)
	}
	p := h.params
	return phc{
		memory:  p.Memory,
		time:    p.Time,
		threads: p.Threads,
		salt:    salt,
		key:     argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen),
	}.String(), nil
}

// Verify reports whether password matches the PHC string encoded. The
// parameters are read from encoded, so hashes made with older parameters
// still verify; needsRehash then reports (only when ok) that the caller
// should store a fresh Hash. A malformed encoded string, or one with
// parameters beyond sane bounds, is an error and costs no hashing.
func (h *Hasher) Verify(encoded, password string) (ok, needsRehash bool, err error) {
	x, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	key := argon2.IDKey([]byte(password), x.salt, x.time, x.memory, x.threads, uint32(len(x.key)))
	if subtle.ConstantTimeCompare(key, x.key) != 1 {
		return false, false, nil
	}
	return true, x.params() != h.params, nil
}

// VerifyDummy does the work of a Verify with the hasher's parameters and
// discards the result. Call it for unknown usernames and for accounts without
// a password, so response times do not reveal which accounts exist.
func (h *Hasher) VerifyDummy(password string) {
	_, _, _ = h.Verify(h.dummy, password)
}

// Password policy for new passwords. Length is bounded in bytes at the top so
// hashing cost and storage stay bounded whatever the script, and in runes at
// the bottom so the minimum means the same thing in every script.
const (
	minPasswordRunes = 8
	maxPasswordBytes = 1024
)

// ValidatePassword checks a new password against gatehouse's policy: valid
// UTF-8 without NUL characters, at least 8 characters and at most 1024 bytes.
// Its errors are *errs.Error of kind InvalidArgument with a message fit to
// show to the user (never containing the password).
func ValidatePassword(pw string) error {
	switch {
	case len(pw) > maxPasswordBytes:
		return errs.New(errs.InvalidArgument, "password must be at most %d bytes long", maxPasswordBytes)
	case !utf8.ValidString(pw):
		return errs.New(errs.InvalidArgument, "password must be valid UTF-8 text")
	case strings.IndexByte(pw, 0) >= 0:
		return errs.New(errs.InvalidArgument, "password must not contain NUL characters")
	case utf8.RuneCountInString(pw) < minPasswordRunes:
		return errs.New(errs.InvalidArgument, "password must be at least %d characters long", minPasswordRunes)
	}
	return nil
}

// phc is a decoded argon2id PHC string.
type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

func (x phc) params() Params {
	return Params{
		Memory:  x.memory,
		Time:    x.time,
		Threads: x.threads,
		SaltLen: uint32(len(x.salt)),
		KeyLen:  uint32(len(x.key)),
	}
}

func (x phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, x.memory, x.time, x.threads,
		b64.EncodeToString(x.salt), b64.EncodeToString(x.key))
}

// b64 is strict so that each hash has exactly one encoding.
var b64 = base64.RawStdEncoding.Strict()

var errMalformed = errors.New("secrets: malformed argon2id hash")

// parsePHC decodes the strict form that phc.String writes and checks its
// parameters. Errors name the faulty field but never echo its content.
func parsePHC(s string) (phc, error) {
	bad := func(what string) (phc, error) {
		return phc{}, fmt.Errorf("%w: %s", errMalformed, what)
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return bad("want 5 $-separated fields")
	}
	if f[1] != "argon2id" {
		return bad("algorithm is not argon2id")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version")
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return bad("want parameters m, t and p")
	}
	m, okM := decimalParam(ps[0], "m=", 32)
	t, okT := decimalParam(ps[1], "t=", 32)
	p, okP := decimalParam(ps[2], "p=", 8)
	if !okM || !okT || !okP {
		return bad("invalid parameters")
	}
	salt, err := decodeB64(f[4])
	if err != nil {
		return bad("invalid salt encoding")
	}
	key, err := decodeB64(f[5])
	if err != nil {
		return bad("invalid hash encoding")
	}
	x := phc{memory: uint32(m), time: uint32(t), threads: uint8(p), salt: salt, key: key}
	if err := x.params().validate(); err != nil {
		return phc{}, fmt.Errorf("%w: %w", errMalformed, err)
	}
	return x, nil
}

// decimalParam parses "<prefix><digits>" with no sign and no leading zeros.
func decimalParam(s, prefix string, bits int) (uint64, bool) {
	d, ok := strings.CutPrefix(s, prefix)
	if !ok || d == "" || (len(d) > 1 && d[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(d, 10, bits)
	return v, err == nil
}

func decodeB64(s string) ([]byte, error) {
	// The decoder skips CR and LF even in strict mode; they have no place
	// in a hash.
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	return b64.DecodeString(s)
}
