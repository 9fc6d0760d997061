package gatehouse

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// Options configure a Verifier. Issuer and Audience are required.
type Options struct {
	// Issuer is gatehouse's `iss` (its --issuer, the public URL).
	Issuer string
	// Audience must be in every token's `aud` (this service's name).
	Audience string
	// JWKSURL defaults to Issuer + "/.well-known/jwks.json".
	JWKSURL string
	// HTTPClient fetches the JWKS (default: one with a 30 s timeout).
	HTTPClient *http.Client
	// Algorithms allowed in tokens (default ES256, EdDSA, RS256).
	Algorithms []string
	// Leeway is the clock skew tolerated on exp, nbf and iat (default 30 s).
	Leeway time.Duration
	// RefetchInterval is the least time between two JWKS refetches caused
	// by unknown kids (default 10 s).
	RefetchInterval time.Duration

	// Conn is a gRPC connection to gatehouse. With it, the Verifier follows
	// WatchRevocations (unless DisableRevocationPush) and can validate
	// remotely.
	Conn grpc.ClientConnInterface
	// WatchCredentials authenticate the revocation stream as a service
	// client (PerRPCCredentials(ClientCredentials(...))), unless Conn
	// already carries them.
	WatchCredentials credentials.PerRPCCredentials
	// DisableRevocationPush validates locally without revocation state:
	// revoked tokens are accepted until they expire.
	DisableRevocationPush bool
	// StaleAfter is how long the revocation stream may be silent before
	// its state is no longer trusted (default 30 s; gatehouse sends a
	// heartbeat every 15 s). Then tokens are validated remotely, or
	// refused (CodeUnavailable) with NoRemoteFallback.
	StaleAfter time.Duration
	// NoRemoteFallback refuses tokens while the revocation state is stale
	// instead of asking ValidateToken.
	NoRemoteFallback bool
	// Remote validates every token with gatehouse's ValidateToken (needs
	// Conn): gatehouse's answer, with the account's current roles, at the
	// cost of a call per token and RemoteCacheTTL.
	Remote bool
	// RemoteCacheTTL is how long a remote answer is reused (default 5 s).
	RemoteCacheTTL time.Duration

	// Logger (default slog.Default()); Now is the clock (default time.Now).
	Logger *slog.Logger
	Now    func() time.Time
}

// Verifier validates gatehouse access tokens. Safe for concurrent use.
type Verifier struct {
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	keys      *keySource
	client    gatehousev1.AuthServiceClient
	remote    *remote
	revoked   *revocations
	push      bool
	cancel    context.CancelFunc
	watchDone chan struct{}
	verified  verifyCache
}

// NewVerifier starts a Verifier: the JWKS cache and, with Conn, the
// revocation stream. Close it to stop them.
func NewVerifier(opts Options) (*Verifier, error) {
	if opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("gatehouse: Options.Issuer and Options.Audience are required")
	}
	if opts.Remote && opts.Conn == nil {
		return nil, errors.New("gatehouse: remote validation needs Options.Conn")
	}
	opts.JWKSURL = cmp.Or(opts.JWKSURL, strings.TrimSuffix(opts.Issuer, "/")+"/.well-known/jwks.json")
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = []string{"ES256", "EdDSA", "RS256"}
	}
	for _, a := range opts.Algorithms {
		if a != "ES256" && a != "EdDSA" && a != "RS256" {
			return nil, fmt.Errorf("gatehouse: algorithm %q is not one gatehouse signs with", a)
		}
	}
	opts.Leeway = cmp.Or(opts.Leeway, 30*time.Second)
	opts.RefetchInterval = cmp.Or(opts.RefetchInterval, 10*time.Second)
	opts.StaleAfter = cmp.Or(opts.StaleAfter, 30*time.Second)
	opts.RemoteCacheTTL = cmp.Or(opts.RemoteCacheTTL, 5*time.Second)
	v := &Verifier{opts: opts, log: cmp.Or(opts.Logger, slog.Default()), now: opts.Now, revoked: newRevocations()}
	if v.now == nil {
		v.now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.cancel = cancel
	ks, err := newKeySource(ctx, opts.JWKSURL, opts.HTTPClient, opts.RefetchInterval, v.now)
	if err != nil {
		cancel()
		return nil, err
	}
	v.keys = ks
	v.watchDone = make(chan struct{})
	if opts.Conn != nil {
		v.client = gatehousev1.NewAuthServiceClient(opts.Conn)
		v.remote = &remote{client: v.client, audience: opts.Audience, ttl: opts.RemoteCacheTTL, now: v.now, cache: map[[32]byte]remoteEntry{}}
		v.push = !opts.DisableRevocationPush
	}
	if v.push {
		go v.watch(ctx)
	} else {
		close(v.watchDone)
	}
	return v, nil
}

// Close stops the background work.
func (v *Verifier) Close() error {
	v.cancel()
	<-v.watchDone
	return nil
}

// Current reports whether the revocation state is current (always false
// without revocation push).
func (v *Verifier) Current() bool {
	return v.push && v.revoked.current(v.now(), v.opts.StaleAfter)
}

// WaitCurrent waits until the revocation state is current (the first
// snapshot arrived), or ctx ends.
func (v *Verifier) WaitCurrent(ctx context.Context) error {
	if !v.push {
		return errors.New("gatehouse: revocation push is off")
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !v.Current() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Verify validates an access token (without "Bearer ") and checks req.
// Errors are *Error: CodeUnauthenticated, CodePermissionDenied or
// CodeUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string, req Requirement) (Principal, error) {
	if v.opts.Remote {
		return v.remote.validate(ctx, token, req)
	}
	c, kid, err := v.verifyToken(ctx, token)
	if err != nil {
		return Principal{}, err
	}
	if err := c.check(v.opts.Issuer, v.opts.Audience, v.now(), v.opts.Leeway); err != nil {
		return Principal{}, err
	}
	if v.push {
		if !v.revoked.current(v.now(), v.opts.StaleAfter) {
			// Revocations may have been missed: never trust stale state.
			if v.opts.NoRemoteFallback {
				return Principal{}, &Error{Code: CodeUnavailable, Reason: "revocation state is stale"}
			}
			return v.remote.validate(ctx, token, req)
		}
		if why := v.revoked.revoked(c, kid); why != "" {
			return Principal{}, invalid(why, nil)
		}
	}
	p := c.principal()
	if err := req.check(p); err != nil {
		return Principal{}, err
	}
	return p, nil
}

// verifyToken checks the token's header and signature (or finds it in the
// cache of verified tokens) and decodes its claims.
func (v *Verifier) verifyToken(ctx context.Context, token string) (*claims, string, error) {
	set, err := v.keys.current(ctx)
	if err != nil {
		return nil, "", &Error{Code: CodeUnavailable, Reason: "gatehouse's key set is unavailable", cause: err}
	}
	if e, ok := v.verified.get(token, set); ok {
		return &e.claims, e.kid, nil
	}
	payload, kid, err := v.keys.verifySignature(ctx, token, v.opts.Algorithms)
	if err != nil {
		return nil, "", err
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, "", invalid("the token's claims do not decode", err)
	}
	if now, err := v.keys.current(ctx); err == nil && now == set {
		v.verified.put(token, verified{claims: c, kid: kid, set: set})
	}
	return &c, kid, nil
}
