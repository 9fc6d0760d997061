// Package core is gatehouse's business logic: grants, token validation,
// account lookup and administration. The gRPC handlers and the HTTP
// endpoints both call it; it returns *errs.Error for everything the caller
// should see.
package core

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gatehouse/gatehouse/service/federation"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/view"
	"github.com/gatehouse/gatehouse/store"
)

// Config is the token policy.
type Config struct {
	// Issuer is the `iss` of every token (an https URL in production).
	Issuer string
	// Audience is the default `aud` of issued tokens.
	Audience string
	// RequireAudience makes a ValidateToken call without an audience an
	// INVALID_ARGUMENT (default false).
	RequireAudience bool
	// AccessTokenTTL is the access-token lifetime (default 15 min).
	AccessTokenTTL time.Duration
	// Leeway is the clock skew tolerated on exp/nbf/iat (default 30 s).
	Leeway time.Duration
	// Scopes are the scopes a client may request.
	Scopes []string
	// DefaultClientID is the `client_id` claim of tokens obtained with the
	// password grant without client authentication.
	DefaultClientID string
	// AllowedAlgs are the algorithms accepted on validation (default: the
	// three gatehouse signs with). Never "none" or HMAC.
	AllowedAlgs []string
	// VerifyCacheSize is how many verified tokens are remembered so that
	// repeated validations skip the signature check (0 disables).
	VerifyCacheSize int
	// RefreshIdleTTL ends a refresh-token session that was not used for this
	// long; RefreshAbsoluteTTL ends it this long after the login.
	RefreshIdleTTL     time.Duration
	RefreshAbsoluteTTL time.Duration
	// OfflineIdleTTL ends an offline token not used for this long (0: never;
	// offline tokens live until revoked).
	OfflineIdleTTL time.Duration
	// RefreshReuseGrace is how long after a rotation the same client may
	// present the rotated refresh token again and get the same successor
	// (a retry whose answer was lost) instead of the session being revoked
	// as a replay (default 10 s; 0 disables, at most 5 min).
	RefreshReuseGrace time.Duration
	// Throttles of failed logins and client authentications (see
	// throttle.go): UserThrottle per (username, client IP), AccountThrottle
	// per username across IPs, ClientThrottle per (client id, client IP),
	// ClientAccountThrottle per client id across IPs, IPThrottle per client IP.
	UserThrottle, AccountThrottle, ClientThrottle, ClientAccountThrottle, IPThrottle store.ThrottlePolicy
	// TrustedPairTTL is how long a correct login makes its (account, client
	// IP) pair exempt from the per-account and per-IP lockouts (0: never).
	TrustedPairTTL time.Duration
	// TrustedProxies are the networks whose X-Forwarded-For is believed when
	// finding a caller's IP for the per-IP throttle.
	TrustedProxies []netip.Prefix
}

// Roles with a meaning to gatehouse itself.
const (
	RoleAdmin      = "admin"
	RoleUserLookup = "user-lookup"
)

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Issuer:          "http://localhost:8080",
		Audience:        "gatehouse",
		AccessTokenTTL:  15 * time.Minute,
		Leeway:          30 * time.Second,
		Scopes:          []string{"openid", "profile", "email", ScopeOfflineAccess},
		DefaultClientID: "gatehouse",
		AllowedAlgs:     []string{jose.ES256, jose.EdDSA, jose.RS256},
		VerifyCacheSize: 10000,

		RefreshIdleTTL:     7 * 24 * time.Hour,
		RefreshAbsoluteTTL: 30 * 24 * time.Hour,
		RefreshReuseGrace:  10 * time.Second,

		UserThrottle:          store.ThrottlePolicy{MaxFailures: 5, Window: 15 * time.Minute, Lockout: 15 * time.Minute},
		AccountThrottle:       store.ThrottlePolicy{MaxFailures: 50, Window: 15 * time.Minute, Lockout: 15 * time.Minute},
		ClientThrottle:        store.ThrottlePolicy{MaxFailures: 10, Window: 15 * time.Minute, Lockout: 15 * time.Minute},
		ClientAccountThrottle: store.ThrottlePolicy{MaxFailures: 100, Window: 15 * time.Minute, Lockout: 15 * time.Minute},
		IPThrottle:            store.ThrottlePolicy{MaxFailures: 100, Window: 15 * time.Minute, Lockout: 15 * time.Minute},
		TrustedPairTTL:        30 * 24 * time.Hour,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer %q must be an absolute URL without query or fragment", c.Issuer)
	}
	if c.Audience == "" {
		return fmt.Errorf("audience must not be empty")
	}
	if c.AccessTokenTTL < 10*time.Second || c.AccessTokenTTL > 24*time.Hour {
		return fmt.Errorf("access token lifetime %s must be between 10s and 24h", c.AccessTokenTTL)
	}
	if c.Leeway < 0 || c.Leeway > 5*time.Minute {
		return fmt.Errorf("leeway %s must be between 0 and 5m", c.Leeway)
	}
	if len(c.AllowedAlgs) == 0 {
		return fmt.Errorf("at least one validation algorithm is required")
	}
	for _, a := range c.AllowedAlgs {
		if !jose.Supported(a) {
			return fmt.Errorf("validation algorithm %q is not supported", a)
		}
	}
	if c.RefreshIdleTTL <= 0 || c.RefreshAbsoluteTTL < c.RefreshIdleTTL {
		return fmt.Errorf("refresh token lifetimes: idle %s must be > 0 and at most absolute %s", c.RefreshIdleTTL, c.RefreshAbsoluteTTL)
	}
	if c.RefreshReuseGrace < 0 || c.RefreshReuseGrace > 5*time.Minute {
		return fmt.Errorf("refresh reuse grace %s must be between 0 and 5m", c.RefreshReuseGrace)
	}
	if c.OfflineIdleTTL < 0 {
		return fmt.Errorf("offline idle timeout %s must not be negative", c.OfflineIdleTTL)
	}
	for name, p := range map[string]store.ThrottlePolicy{"user": c.UserThrottle, "account": c.AccountThrottle, "client": c.ClientThrottle, "client account": c.ClientAccountThrottle, "ip": c.IPThrottle} {
		if p.MaxFailures < 1 || p.Window <= 0 || p.Lockout <= 0 {
			return fmt.Errorf("%s throttle needs max failures >= 1 and a positive window and lockout", name)
		}
	}
	if c.TrustedPairTTL < 0 {
		return fmt.Errorf("trusted pair lifetime %s must not be negative", c.TrustedPairTTL)
	}
	for _, s := range c.Scopes {
		if !validScopeToken(s) {
			return fmt.Errorf("scope %q has characters RFC 6749 §3.3 does not allow", s)
		}
	}
	return nil
}

// Service is the core. Create it with New.
type Service struct {
	cfg     Config
	store   *store.Store
	keys    *keys.Manager
	view    *view.View
	pw      *secrets.Hasher
	secrets *secrets.SecretHasher
	cache   *verifyCache
	hashing hashSlots
	gate    *attemptGate
	offline *offlineCache
	fed     *federation.Verifier
	now     func() time.Time
	log     *slog.Logger
	obs     Observer
	tracer  trace.Tracer
}

// Deps are the collaborators of the core.
type Deps struct {
	Store *store.Store
	Keys  *keys.Manager
	View  *view.View
	// Federation verifies trusted issuers' tokens (nil: none).
	Federation *federation.Verifier
	Passwords  *secrets.Hasher
	Secrets    *secrets.SecretHasher
	Now        func() time.Time
	Log        *slog.Logger
	// Observer is told about logins, issued, validated, exchanged and
	// revoked tokens (nil: nobody).
	Observer Observer
	// Tracing starts the spans jwt.sign, jwt.verify and password.hash
	// under the caller's span (nil: none).
	Tracing trace.TracerProvider
}

// New returns the core.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Observer == nil {
		d.Observer = nopObserver{}
	}
	if d.Tracing == nil {
		d.Tracing = noop.NewTracerProvider()
	}
	tracer := d.Tracing.Tracer(tracerName)
	return &Service{obs: d.Observer, cfg: cfg, store: d.Store, keys: d.Keys, view: d.View, pw: d.Passwords, secrets: d.Secrets, cache: newVerifyCache(cfg.VerifyCacheSize), hashing: newHashSlots(tracer), gate: newAttemptGate(), offline: newOfflineCache(), fed: d.Federation, now: d.Now, log: d.Log, tracer: tracer}, nil
}

// Config returns the token policy in force.
func (s *Service) Config() Config { return s.cfg }

// JWKS returns the RFC 7517 key set as JSON and its ETag.
func (s *Service) JWKS() (body []byte, etag string) {
	r := s.view.Ring()
	return r.JWKSJSON, r.ETag
}

// PublicKeys returns the published keys, oldest first.
func (s *Service) PublicKeys() []jose.PublicKey { return slices.Clone(s.view.Ring().Published) }

// Ready reports whether the database answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// syncView makes this replica see a change it just wrote. Other replicas
// see it at their next poll.
func (s *Service) syncView(ctx context.Context) {
	if err := s.view.Poll(ctx); err != nil {
		s.log.Warn("view refresh after write failed; the next poll retries", "err", err)
	}
}
