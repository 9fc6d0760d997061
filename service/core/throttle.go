package core

import (
	"context"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

// throttleKeys names the counters one attempt is charged to.
type throttleKeys []struct {
	key    string
	policy store.ThrottlePolicy
}

func (s *Service) userThrottle(username, ip string) throttleKeys {
	return s.throttleKeys("user:"+strings.ToLower(username), s.cfg.UserThrottle, ip)
}

func (s *Service) clientThrottle(clientID, ip string) throttleKeys {
	return s.throttleKeys("client:"+clientID, s.cfg.ClientThrottle, ip)
}

func (s *Service) throttleKeys(key string, p store.ThrottlePolicy, ip string) throttleKeys {
	keys := throttleKeys{{key, p}}
	if ip != "" {
		keys = append(keys, struct {
			key    string
			policy store.ThrottlePolicy
		}{"ip:" + ip, s.cfg.IPThrottle})
	}
	return keys
}

// checkLocked refuses an attempt while any of its counters is locked,
// before any password or secret is checked. It reports whether the first
// (name) counter holds failures, which a success then clears.
func (s *Service) checkLocked(ctx context.Context, keys throttleKeys) (counted bool, err error) {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.key
	}
	now := s.now().UTC()
	until, state, err := s.store.ThrottleState(ctx, now, names...)
	if err != nil {
		return false, errs.Wrap(errs.Internal, err, "could not check the login throttle")
	}
	if !until.IsZero() {
		return false, tooManyAttempts(until.Sub(now))
	}
	return state[names[0]], nil
}

func tooManyAttempts(wait time.Duration) error {
	secs := int64(math.Ceil(wait.Seconds()))
	e := errs.New(errs.ResourceExhausted, "too many failed attempts; try again in %d seconds", secs).WithOAuth("invalid_request")
	e.RetryAfter = time.Duration(secs) * time.Second
	return e
}

// recordFailure charges a failed attempt to every counter. Failures to
// record are logged, not returned: the caller's answer stays the same.
func (s *Service) recordFailure(ctx context.Context, keys throttleKeys) {
	now := s.now().UTC()
	for _, k := range keys {
		if until, err := s.store.RecordFailure(ctx, k.key, now, k.policy); err != nil {
			s.log.Error("could not record a failed attempt", "err", err)
		} else if !until.IsZero() {
			s.log.Warn("locked out after repeated failures", "counter", strings.SplitN(k.key, ":", 2)[0], "until", until)
		}
	}
}

// resetFailures clears the name's counter after a success, if it counted
// anything (so that a success costs no write); the IP counter is kept, so
// that one valid account cannot launder guesses at others.
func (s *Service) resetFailures(ctx context.Context, keys throttleKeys, counted bool) {
	if !counted {
		return
	}
	if err := s.store.ResetFailures(ctx, keys[0].key); err != nil {
		s.log.Warn("could not reset the failure counter", "err", err)
	}
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
