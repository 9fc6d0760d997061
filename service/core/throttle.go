package core

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"math"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

// Login throttling. Every password login and client authentication is
// charged, before any password or secret is checked, to up to three
// counters in one locked database step (store.ReserveAttempt):
//
//   - the (account, client IP) pair: the first line, a low limit (default 5
//     failures in 15 minutes locks the pair for 15 minutes);
//   - the account across all IPs: a higher limit (default 50), so that a
//     distributed attack still trips while one source cannot lock an
//     account for everyone;
//   - the client IP across all accounts (default 100), which stops a sprayer.
//
// A correct login clears its pair counter, gives back the one failure it
// reserved on the account and IP counters, and makes the pair trusted for
// TrustedPairTTL. The account and IP lockouts do not apply to a trusted pair
// (its own pair lockout always does): users who logged in from an address
// before keep logging in from it while someone else there sprays or while
// their account is attacked from elsewhere; everyone else is refused until
// the lockout ends or an administrator unlocks the account.
//
// Unknown names are counted exactly like known ones, so the answers do not
// tell which names exist; names too long or odd for a key are hashed. If the
// counters cannot be read or written, the attempt is refused (UNAVAILABLE):
// an attempt is never evaluated uncounted.

// throttleKeyPart returns s as it may appear in a counter key: itself when
// it is short, valid UTF-8 and free of the separator, else a hash of it.
func throttleKeyPart(s string) string {
	if len(s) > 0 && len(s) <= 128 && utf8.ValidString(s) && !strings.ContainsAny(s, "|#") && !hasControl(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "#" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// Counter key prefixes.
const (
	keyUser       = "user:"   // a username across IPs
	keyUserPair   = "up:"     // username|ip
	keyClient     = "client:" // a client id across IPs
	keyClientPair = "cp:"     // client id|ip
	keyIP         = "ip:"
)

// userCounters are the counters a login as username (already normalised)
// from ip is charged to.
func (s *Service) userCounters(username, ip string) []store.ThrottleCounter {
	return s.counters(keyUser, keyUserPair, throttleKeyPart(username), ip, s.cfg.UserThrottle, s.cfg.AccountThrottle)
}

// clientCounters are the counters a client authentication is charged to.
func (s *Service) clientCounters(clientID, ip string) []store.ThrottleCounter {
	return s.counters(keyClient, keyClientPair, throttleKeyPart(clientID), ip, s.cfg.ClientThrottle, s.cfg.ClientAccountThrottle)
}

func (s *Service) counters(accountPrefix, pairPrefix, name, ip string, pair, account store.ThrottlePolicy) []store.ThrottleCounter {
	if ip == "" {
		// Without an address the account counter is the first line.
		return []store.ThrottleCounter{{Key: accountPrefix + name, Policy: pair, Pair: true}}
	}
	ip = throttleKeyPart(ip)
	return []store.ThrottleCounter{
		{Key: pairPrefix + name + "|" + ip, Policy: pair, Pair: true},
		{Key: accountPrefix + name, Policy: account},
		{Key: keyIP + ip, Policy: s.cfg.IPThrottle},
	}
}

// reserveAttempt counts an attempt before its credentials are checked, or
// refuses it: RESOURCE_EXHAUSTED while a lockout applies, UNAVAILABLE when
// the counters cannot be read or written.
func (s *Service) reserveAttempt(ctx context.Context, kind, name string, counters []store.ThrottleCounter) error {
	now := s.now().UTC()
	until, locked, err := s.store.ReserveAttempt(ctx, now, counters)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "the login throttle is unavailable; try again later")
	}
	for _, k := range locked {
		lockedUntil := now.Add(policyOf(counters, k).Lockout)
		s.log.Warn("locked out after repeated failures", kind, truncate(name), "counter", counterKind(k), "until", lockedUntil)
		s.obs.Observe(ctx, Event{Type: EventLockout, Kind: kind, Name: truncate(name), IP: ipOfCounters(counters),
			Detail: map[string]string{"counter": counterKind(k), "until": lockedUntil.Format(time.RFC3339)}})
	}
	if len(locked) > 0 {
		// The view answers right client secrets from memory: this replica
		// learns the new lockout now, the others at their next poll.
		s.syncView(ctx)
	}
	if !until.IsZero() {
		return tooManyAttempts(until.Sub(now))
	}
	return nil
}

// releaseAttempt gives a successful attempt's reservation back and trusts
// its (account, IP) pair. A failure here leaves the counters higher than
// they should be, which errs on the safe side, so it is logged only.
func (s *Service) releaseAttempt(ctx context.Context, counters []store.ThrottleCounter) {
	now := s.now().UTC()
	var trust time.Time
	if s.cfg.TrustedPairTTL > 0 && len(counters) > 1 {
		trust = now.Add(s.cfg.TrustedPairTTL)
	}
	if err := s.store.ReleaseAttempt(ctx, now, counters, trust); err != nil {
		s.log.Warn("could not release a login attempt's throttle reservation", "err", err)
	}
}

// ipOfCounters is the client IP the counters were made for ("" if none).
func ipOfCounters(counters []store.ThrottleCounter) string {
	for _, c := range counters {
		if ip, ok := strings.CutPrefix(c.Key, keyIP); ok {
			return ip
		}
	}
	return ""
}

func policyOf(counters []store.ThrottleCounter, key string) store.ThrottlePolicy {
	for _, c := range counters {
		if c.Key == key {
			return c.Policy
		}
	}
	return store.ThrottlePolicy{}
}

// counterKind names a counter for logs without its name or address.
func counterKind(key string) string {
	switch {
	case strings.HasPrefix(key, keyUserPair):
		return "user and client IP"
	case strings.HasPrefix(key, keyUser):
		return "user"
	case strings.HasPrefix(key, keyClientPair):
		return "client and client IP"
	case strings.HasPrefix(key, keyClient):
		return "client"
	}
	return "client IP"
}

func tooManyAttempts(wait time.Duration) error {
	secs := max(int64(math.Ceil(wait.Seconds())), 1)
	e := errs.New(errs.ResourceExhausted, "too many failed attempts; try again in %d seconds", secs).WithOAuth("invalid_request")
	e.RetryAfter = time.Duration(secs) * time.Second
	return e
}

// clearLocks lifts every lockout of an account: its own counter and those
// of its (account, IP) pairs. Per-IP counters are left alone.
func (s *Service) clearLocks(ctx context.Context, a store.Account) (int, error) {
	return s.clearLocksAudited(ctx, a, false)
}

// clearLocksAudited is clearLocks that records an unlock event with the
// change when audit is set.
func (s *Service) clearLocksAudited(ctx context.Context, a store.Account, audit bool) (int, error) {
	if audit {
		ctx = audited(ctx, accountEvent(a, store.AuditUnlocked, nil))
	}
	var keys, prefixes []string
	switch a.Kind {
	case store.KindService:
		name := throttleKeyPart(a.ClientID)
		keys, prefixes = []string{keyClient + name}, []string{keyClientPair + name + "|"}
	default:
		name := throttleKeyPart(a.Username)
		keys, prefixes = []string{keyUser + name}, []string{keyUserPair + name + "|"}
	}
	n, err := s.store.ClearThrottles(ctx, s.now().UTC(), keys, prefixes)
	if err != nil {
		return 0, errs.Wrap(errs.Unavailable, err, "could not clear the account's lockouts; try again")
	}
	if n > 0 {
		s.syncView(ctx) // like every other write: this replica sees the unlock at once
	}
	return n, nil
}

// UnlockAccount lifts the login lockouts of an account (user or service
// client) by id and returns how many counters it cleared.
func (s *Service) UnlockAccount(ctx context.Context, id string) (int, error) {
	if id == "" {
		return 0, errs.New(errs.InvalidArgument, "id is required")
	}
	a, err := s.getAccount(ctx, store.AccountKey{ID: id}, "")
	if err != nil {
		return 0, err
	}
	n, err := s.clearLocksAudited(ctx, a, true)
	if err != nil {
		return 0, err
	}
	s.log.Info("account unlocked", "account", a.ID, "counters", n)
	return n, nil
}

// ClientIP returns the caller's address for the per-IP throttle: the peer,
// or, when the peer is a trusted proxy, the nearest untrusted address in its
// X-Forwarded-For chain. forwarded holds the header values in order.
func (s *Service) ClientIP(peer string, forwarded []string) string {
	ip, err := netip.ParseAddr(peer)
	if err != nil {
		return peer
	}
	var chain []string
	for _, f := range forwarded {
		for _, part := range strings.Split(f, ",") {
			if part = strings.TrimSpace(part); part != "" {
				chain = append(chain, part)
			}
		}
	}
	for i := len(chain) - 1; i >= 0 && s.trustedProxy(ip); i-- {
		next, err := netip.ParseAddr(chain[i])
		if err != nil {
			break
		}
		ip = next
	}
	return ip.Unmap().String()
}

func (s *Service) trustedProxy(ip netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}
