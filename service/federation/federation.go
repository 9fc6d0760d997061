// Package federation verifies tokens issued by trusted company identity
// providers (Microsoft Entra ID / Azure AD, Keycloak, any OIDC issuer).
//
// A Verifier holds the trusted issuers (store.TrustedIssuer) and a cache of
// each one's signing keys, fetched from its JWKS: the configured jwks_uri or
// the one its OIDC discovery document names.
//
// The keys are kept by jwx v2's jwk.Cache (httprc v1 underneath): it
// fetches a registered JWKS URL, parses it (jwk.WithIgnoreParseError, so a
// key jwx cannot parse does not discard the others), refreshes it in the
// background when its Cache-Control max-age / Expires says, and keeps the
// previous answer when a refresh fails. Gatehouse adds its rules around
// it:
//
//   - the cache's HTTP client (fetchClient) allows only CheckURL's URLs and
//     redirects, bounds time and size, sends If-None-Match and replays the
//     cached body on 304, refuses non-200 answers and documents that are not
//     a JWK Set with a message naming the issuer, and rewrites Cache-Control
//     so that refreshes happen within [1 min, 24 h];
//   - its post-fetcher applies jose.ParseJWK's key policy once per fetch and
//     builds an immutable key set, skipping (and logging why) keys that fail
//     it or repeat a kid; a set without a usable key is a failed fetch;
//   - discovery (the issuer must match exactly) is gatehouse code; Run reads
//     it again daily and during failure streaks and moves the cache to a
//     new jwks_uri;
//   - a token with a kid that is not cached triggers at most one refetch per
//     issuer per MinRefetchInterval, shared by concurrent callers
//     (x/sync/singleflight); so does an issuer whose keys were never fetched;
//   - failures are logged once per streak, counted in
//     gatehouse_federation_jwks_fetch_total{result="error"} and shown by
//     Status, and never discard the last good keys.
//
// Every forced fetch registers the URL in the cache afresh (see register),
// because httprc v1 would otherwise queue one more background refresh per
// forced fetch. Verify is pure CPU while the keys are cached: it reads the
// prebuilt key set under a read lock (never jwk.Cache.Get) and checks one
// signature.
//
// Algorithms are each issuer's AllowedAlgs (any of jose.VerifyAlgorithms,
// default RS256). An RSA JWK without alg is bound to the token's alg when
// that alg is allowed and suits the key. Only the header members alg and
// kid are read; jku, x5u, jwk and x5c are never used (jose.Parse does not
// even decode them), so a token cannot choose where its key comes from.
package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/httprc"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/store"
)

// Defaults.
const (
	DefaultLeeway             = 60 * time.Second
	DefaultMinRefetchInterval = 30 * time.Second
	DefaultRefresh            = time.Hour
	DefaultHTTPTimeout        = 10 * time.Second

	// MinCacheLifetime and MaxCacheLifetime clamp the lifetime the IdP's
	// cache headers give its JWKS.
	MinCacheLifetime = time.Minute
	MaxCacheLifetime = 24 * time.Hour

	// MaxDocumentSize bounds a JWKS or discovery document.
	MaxDocumentSize = 1 << 20
)

// Default claim lists of WithDefaults.
var (
	DefaultAllowedAlgs    = []string{jose.RS256}
	DefaultRequiredClaims = []string{"exp", "iat"}
	DefaultIdentityClaims = []string{"email", "preferred_username", "upn", "appid", "azp"}
	DefaultGroupClaims    = []string{"groups", "roles"}
)

// Options configure a Verifier.
type Options struct {
	// HTTPClient fetches discovery documents and JWKS. nil: a client with a
	// 10 s timeout that follows at most 5 redirects, never to a URL that
	// CheckURL refuses. A given client is used as is, except that the same
	// redirect rule is put in front of its own CheckRedirect.
	HTTPClient *http.Client
	// MinRefetchInterval: a token with an unknown kid triggers at most one
	// JWKS refetch per issuer per this interval (default 30 s). It is also
	// the retry delay after a failed fetch (at least 1 s), and the shortest
	// refresh interval.
	MinRefetchInterval time.Duration
	// DefaultRefresh is the background refresh interval when the IdP sends
	// no cache headers (default 1 h). max-age / Expires are honoured,
	// clamped to [1 min, 24 h]. Refreshes run on real time, not on the
	// clock given to New.
	DefaultRefresh time.Duration
	// Metrics may be nil.
	Metrics *Metrics
	// Tracing records each JWKS fetch as a jwks.fetch span (nil: no spans).
	Tracing trace.TracerProvider
}

// Verifier verifies tokens of trusted issuers. It is safe for concurrent
// use; create it with New.
type Verifier struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	client  *http.Client
	metrics *Metrics
	tracer  trace.Tracer

	mu      sync.RWMutex
	issuers map[string]*entry // by exact issuer string
	// gens hands out the numbers of Generation: every new issuer
	// configuration and every changed key set takes the next one.
	gens atomic.Uint64

	// ctx lives until Close (Run's end); the jwk.Cache and every fetch
	// run on it.
	ctx    context.Context
	cancel context.CancelFunc
	cache  *jwk.Cache
	// flights shares one fetch per issuer among concurrent callers.
	flights singleflight.Group
	// regs maps jwk.Cache keys to their issuer's key source.
	regMu sync.Mutex
	regs  map[string]*keySource

	// minLifetime and maxLifetime clamp cache lifetimes (MinCacheLifetime,
	// MaxCacheLifetime; tests make them small).
	minLifetime, maxLifetime time.Duration

	// wake tells Run that the issuers changed or a fetch finished.
	wake chan struct{}
	// maxSleep bounds how long Run sleeps between looks at the schedule.
	maxSleep time.Duration
}

// entry is one trusted issuer: its configuration (defaults applied) and its
// key source, which survives SetIssuers while the JWKS source is unchanged.
type entry struct {
	cfg store.TrustedIssuer
	ks  *keySource
	gen uint64 // of cfg and ks, see Generation
}

// New returns a Verifier without issuers (see SetIssuers). log nil means
// slog.Default(); now nil means time.Now (used for claims, rate limits and
// Status; the jwk.Cache schedules on real time). Its jwk.Cache runs until
// Close, which Run calls when it returns.
func New(opts Options, log *slog.Logger, now func() time.Time) *Verifier {
	if opts.MinRefetchInterval <= 0 {
		opts.MinRefetchInterval = DefaultMinRefetchInterval
	}
	if opts.DefaultRefresh <= 0 {
		opts.DefaultRefresh = DefaultRefresh
	}
	if log == nil {
		log = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	if opts.Tracing == nil {
		opts.Tracing = noop.NewTracerProvider()
	}
	v := &Verifier{
		tracer:      opts.Tracing.Tracer("github.com/gatehouse/gatehouse/service/federation"),
		opts:        opts,
		log:         log,
		now:         now,
		client:      httpClient(opts.HTTPClient),
		metrics:     opts.Metrics,
		issuers:     map[string]*entry{},
		regs:        map[string]*keySource{},
		minLifetime: MinCacheLifetime,
		maxLifetime: MaxCacheLifetime,
		wake:        make(chan struct{}, 1),
		maxSleep:    time.Second,
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.cache = jwk.NewCache(v.ctx, jwk.WithRefreshWindow(refreshWindow),
		jwk.WithErrSink(httprc.ErrSinkFunc(v.refreshFailed)))
	return v
}

// Close stops the background refreshes of the jwk.Cache and any fetch in
// progress; cached keys stay usable. Run calls it when it returns; a
// Verifier that is never Run should be closed by its owner.
func (v *Verifier) Close() { v.cancel() }

// WithDefaults fills the empty fields of ti: AllowedAlgs ["RS256"], Leeway
// 60 s (also for a negative one), RequiredClaims ["exp", "iat"],
// IdentityClaims ["email", "preferred_username", "upn", "appid", "azp"],
// GroupClaims ["groups", "roles"]. Slices are fresh copies: changing the
// result never changes ti or the defaults.
func WithDefaults(ti store.TrustedIssuer) store.TrustedIssuer {
	fill := func(s, def []string) []string {
		if len(s) == 0 {
			return slices.Clone(def)
		}
		return slices.Clone(s)
	}
	ti.AllowedAlgs = fill(ti.AllowedAlgs, DefaultAllowedAlgs)
	ti.RequiredClaims = fill(ti.RequiredClaims, DefaultRequiredClaims)
	ti.IdentityClaims = fill(ti.IdentityClaims, DefaultIdentityClaims)
	ti.GroupClaims = fill(ti.GroupClaims, DefaultGroupClaims)
	ti.Audiences = slices.Clone(ti.Audiences)
	if ti.Leeway <= 0 {
		ti.Leeway = DefaultLeeway
	}
	if ti.RoleMap != nil {
		m := make(map[string][]string, len(ti.RoleMap))
		for g, roles := range ti.RoleMap {
			m[g] = slices.Clone(roles)
		}
		ti.RoleMap = m
	}
	return ti
}

// SetIssuers replaces the trusted issuers. An issuer whose JWKS source (the
// explicit JWKSURI, or discovery from the same issuer string) is unchanged
// keeps its cached keys and schedule; new ones are fetched by Run or by the
// first Verify that needs them. Entries with an empty Issuer, and second
// entries for an issuer already listed, are ignored (and logged).
func (v *Verifier) SetIssuers(list []store.TrustedIssuer) {
	next := make(map[string]*entry, len(list))
	v.mu.Lock()
	old := v.issuers
	for _, ti := range list {
		if ti.Issuer == "" {
			v.log.Warn("federation: ignoring a trusted issuer without issuer", "id", ti.ID)
			continue
		}
		if _, dup := next[ti.Issuer]; dup {
			v.log.Warn("federation: ignoring a second trusted issuer with the same issuer", "issuer", ti.Issuer, "id", ti.ID)
			continue
		}
		cfg := WithDefaults(ti)
		var ks *keySource
		prev, ok := old[ti.Issuer]
		if ok && prev.ks.explicitURI == ti.JWKSURI {
			ks = prev.ks
		} else {
			ks = newKeySource(ti.Issuer, ti.JWKSURI)
		}
		gen := v.gens.Add(1)
		if ok && prev.ks == ks && reflect.DeepEqual(prev.cfg, cfg) {
			gen = prev.gen // a reload without change keeps cached verifications
		}
		next[ti.Issuer] = &entry{cfg: cfg, ks: ks, gen: gen}
	}
	v.issuers = next
	v.mu.Unlock()

	for iss, e := range old {
		if n, ok := next[iss]; ok && n.ks == e.ks {
			continue
		}
		v.unregister(e.ks)
		// Only drop the metrics if the issuer is gone; a changed source
		// keeps publishing under the same label.
		if _, still := next[iss]; !still {
			v.metrics.forget(iss)
		}
	}
	v.poke()
}

// Generation identifies what a token of one issuer is verified with: the
// issuer's configuration and its key set. It changes whenever the issuer is
// reconfigured or replaced or its JWKS changes (a key added, rotated or
// removed), so a cache of verified tokens keyed by it never outlives the
// key that verified them. Values are comparable.
type Generation struct {
	config, keys uint64
}

// Generation returns iss's current Generation; ok is false when iss is not
// trusted. Read it before Verify: a change during Verify then makes the
// stored result stale rather than current.
func (v *Verifier) Generation(iss string) (g Generation, ok bool) {
	e := v.lookup(iss)
	if e == nil {
		return Generation{}, false
	}
	e.ks.mu.RLock()
	defer e.ks.mu.RUnlock()
	return Generation{config: e.gen, keys: e.ks.keysGen}, true
}

// Recheck applies the checks of Verify that depend on the time (exp, nbf,
// iat with the leeway) and the issuer's claim rules again to a token Verify
// accepted earlier under the same Generation, without the signature. It
// returns the token's Verified afresh.
func (v *Verifier) Recheck(vd *Verified) (*Verified, error) {
	return checkClaims(vd.Issuer, vd.Claims, v.now())
}

// Trusted reports whether iss (exact string) is a trusted issuer.
func (v *Verifier) Trusted(iss string) bool {
	v.mu.RLock()
	_, ok := v.issuers[iss]
	v.mu.RUnlock()
	return ok
}

// Empty reports whether no issuer is trusted, so callers can skip looking.
func (v *Verifier) Empty() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.issuers) == 0
}

// Issuers returns the trusted issuers with defaults applied, ordered by
// issuer.
func (v *Verifier) Issuers() []store.TrustedIssuer {
	v.mu.RLock()
	out := make([]store.TrustedIssuer, 0, len(v.issuers))
	for _, e := range v.issuers {
		out = append(out, WithDefaults(e.cfg))
	}
	v.mu.RUnlock()
	slices.SortFunc(out, func(a, b store.TrustedIssuer) int { return strings.Compare(a.Issuer, b.Issuer) })
	return out
}

func (v *Verifier) lookup(iss string) *entry {
	v.mu.RLock()
	e := v.issuers[iss]
	v.mu.RUnlock()
	return e
}

func (v *Verifier) entries() []*entry {
	v.mu.RLock()
	out := slices.Collect(maps.Values(v.issuers))
	v.mu.RUnlock()
	return out
}

// poke wakes Run without blocking.
func (v *Verifier) poke() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// Verified is a token that Verify accepted.
type Verified struct {
	// Issuer is the trusted issuer that signed the token, defaults applied.
	// Its slices and RoleMap are shared with the Verifier: read only.
	Issuer store.TrustedIssuer
	// Subject is the `sub` claim ("" if absent and not required).
	Subject string
	// Claims are all claims of the token; numbers are json.Number.
	Claims map[string]any
	// Identities are the candidates for the local account, from
	// Issuer.IdentityClaims in order: each claim present as a non-empty
	// string. appid and azp are ServicePrincipal candidates, and they are
	// left out of tokens that carry a user candidate (see Identity).
	Identities []Identity
	// Groups is the union of the Issuer.GroupClaims values (strings or
	// arrays of strings), in order of first appearance, without duplicates.
	Groups []string
	// Roles is Issuer.RoleMap applied to Groups: sorted, unique.
	Roles []string
	// IssuedAt and ExpiresAt are iat and exp (zero when absent).
	IssuedAt, ExpiresAt time.Time
}

// Identity is one candidate for the local account.
type Identity struct {
	Claim string
	Value string
	// ServicePrincipal is set for appid and azp: the value is the calling
	// application's client id, to be matched against service clients'
	// client_id. A token that names a user (any candidate that is not a
	// service principal, e.g. email) yields no ServicePrincipal candidates:
	// in a delegated token azp/appid is the app acting for the user, and the
	// user must never be mistaken for that app.
	ServicePrincipal bool
}

// isServicePrincipalClaim reports whether claim names the calling app.
func isServicePrincipalClaim(claim string) bool { return claim == "appid" || claim == "azp" }

// Verify checks a compact JWS from a trusted issuer and returns what it
// says. In order: shape and size (jose.Parse; never reads jku/x5u/jwk/x5c);
// the unverified `iss` selects the trusted issuer; alg must be in its
// AllowedAlgs; the key by kid from its cached JWKS (fetched now if never
// fetched; an unknown kid triggers at most one rate-limited refetch); the
// signature; then aud, exp/nbf/iat with the issuer's leeway, and the
// RequiredClaims.
//
// Errors are *errs.Error: InvalidArgument for malformed tokens,
// Unauthenticated for everything else. Messages name the issuer (once it is
// known to be trusted) and what was wrong, never the token.
func (v *Verifier) Verify(ctx context.Context, token string) (*Verified, error) {
	if token == "" {
		return nil, errs.New(errs.InvalidArgument, "token is required")
	}
	t, err := jose.Parse(token)
	if err != nil {
		if errors.Is(err, jose.ErrMalformed) || errors.Is(err, jose.ErrTooLarge) {
			return nil, errs.Wrap(errs.InvalidArgument, err, "token is malformed: %s", jose.Reason(err))
		}
		return nil, errs.Wrap(errs.Unauthenticated, err, "invalid token: %s", jose.Reason(err))
	}
	claims, err := decodeClaims(t.Payload)
	if err != nil {
		return nil, errs.Wrap(errs.InvalidArgument, err, "token is malformed: claims do not decode")
	}
	iss, _ := claims["iss"].(string)
	if iss == "" {
		return nil, errs.New(errs.Unauthenticated, "token has no issuer (iss)")
	}
	e := v.lookup(iss)
	if e == nil {
		return nil, errs.New(errs.Unauthenticated, "token issuer is not trusted")
	}
	cfg := e.cfg
	// alg is one of jose's constants after Parse: safe to print.
	if !slices.Contains(cfg.AllowedAlgs, t.Header.Alg) {
		return nil, errs.New(errs.Unauthenticated, "token from %s is signed with %s, which is not allowed for this issuer (allowed: %s)",
			cfg.Issuer, t.Header.Alg, strings.Join(cfg.AllowedAlgs, ", "))
	}
	key, err := v.key(ctx, e.ks, t.Header.Kid, t.Header.Alg)
	if err != nil {
		return nil, err
	}
	if err := t.Verify(key, cfg.AllowedAlgs); err != nil {
		return nil, errs.Wrap(errs.Unauthenticated, err, "token from %s does not verify: %s", cfg.Issuer, jose.Reason(err))
	}
	return checkClaims(cfg, claims, v.now())
}

// decodeClaims decodes the payload (a JSON object, checked by jose.Parse)
// keeping numbers exact.
func decodeClaims(payload []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("claims are not an object")
	}
	return m, nil
}

// errRateLimited refuses an unknown-kid refetch within MinRefetchInterval.
var errRateLimited = errors.New("federation: refetch rate-limited")

// key returns the verification key for kid, fetching the issuer's JWKS when
// it was never fetched, and refetching once (rate-limited) for a kid that is
// not cached.
func (v *Verifier) key(ctx context.Context, ks *keySource, kid, alg string) (jose.PublicKey, error) {
	set, fetched := ks.current()
	if !fetched {
		// Never fetched: fetch now, shared by all callers; after a failure
		// at most once per MinRefetchInterval (Run retries meanwhile).
		err := v.refresh(ctx, ks, false, func() error {
			ks.mu.RLock()
			defer ks.mu.RUnlock()
			if ks.fetched {
				return errSkip
			}
			if !ks.lastAttempt.IsZero() && v.now().Sub(ks.lastAttempt) < v.opts.MinRefetchInterval {
				return &fetchError{msg: ks.lastErr}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errSkip) {
			return jose.PublicKey{}, errs.Wrap(errs.Unauthenticated, err, "signing keys of %s are not available: %s", ks.issuer, errMessage(err))
		}
		set, _ = ks.current()
		if k, ok := set.find(kid, alg); ok {
			return k, nil
		}
		if kid == "" {
			return jose.PublicKey{}, noKid(ks.issuer, alg)
		}
		return jose.PublicKey{}, unknownKey(ks.issuer, kid)
	}
	if k, ok := set.find(kid, alg); ok {
		return k, nil
	}
	if kid == "" {
		// Without a kid a refetch cannot help to choose.
		return jose.PublicKey{}, noKid(ks.issuer, alg)
	}
	err := v.refresh(ctx, ks, false, func() error {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		if _, ok := ks.set.find(kid, alg); ok {
			return errSkip // a fetch that finished meanwhile brought it
		}
		now := v.now()
		if !ks.lastKidRefetch.IsZero() && now.Sub(ks.lastKidRefetch) < v.opts.MinRefetchInterval {
			return errRateLimited
		}
		ks.lastKidRefetch = now
		v.metrics.unknownKid(ks.issuer)
		return nil
	})
	switch {
	case err == nil, errors.Is(err, errSkip):
	case errors.Is(err, errRateLimited):
		return jose.PublicKey{}, unknownKey(ks.issuer, kid)
	default:
		// The old keys are kept; the kid is still unknown.
		return jose.PublicKey{}, errs.Wrap(errs.Unauthenticated, err, "unknown signing key for %s (kid %q; refetching its keys failed: %s)", ks.issuer, truncate(kid), errMessage(err))
	}
	set, _ = ks.current()
	if k, ok := set.find(kid, alg); ok {
		return k, nil
	}
	return jose.PublicKey{}, unknownKey(ks.issuer, kid)
}

func noKid(iss, alg string) *errs.Error {
	return errs.New(errs.Unauthenticated, "token from %s has no kid, and the issuer does not publish exactly one %s key", iss, alg)
}

func unknownKey(iss, kid string) *errs.Error {
	return errs.Wrap(errs.Unauthenticated, jose.ErrUnknownKey, "unknown signing key for %s (kid %q)", iss, truncate(kid))
}

// errMessage is the caller-safe text of a fetch error.
func errMessage(err error) string {
	var fe *fetchError
	if errors.As(err, &fe) {
		return fe.msg
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "the request was cancelled or timed out"
	}
	return err.Error()
}

// truncate shortens token-controlled text echoed in messages.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
