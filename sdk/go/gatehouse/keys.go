package gatehouse

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"golang.org/x/sync/singleflight"
)

// maxTokenSize bounds the work an unauthenticated caller can cause.
const maxTokenSize = 8 << 10

// keySource keeps gatehouse's JWKS in a jwk.Cache (refreshed in the
// background as its cache headers say) and refetches it, at most once per
// refetchEvery, when a token names a kid the cached set lacks (a key
// published after the last fetch).
type keySource struct {
	cache        *jwk.Cache
	url          string
	refetchEvery time.Duration
	now          func() time.Time
	flight       singleflight.Group

	mu          sync.Mutex
	lastRefetch time.Time
}

func newKeySource(ctx context.Context, url string, hc *http.Client, refetchEvery time.Duration, now func() time.Time) (*keySource, error) {
	c := jwk.NewCache(ctx)
	if err := c.Register(url, jwk.WithHTTPClient(hc), jwk.WithMinRefreshInterval(refetchEvery)); err != nil {
		return nil, fmt.Errorf("register JWKS %s: %w", url, err)
	}
	return &keySource{cache: c, url: url, refetchEvery: refetchEvery, now: now}, nil
}

// current returns the cached set (to tell whether it changed).
func (k *keySource) current(ctx context.Context) (jwk.Set, error) { return k.cache.Get(ctx, k.url) }

// key returns the key with kid, refetching the set once (rate-limited,
// one fetch at a time) when it is unknown.
func (k *keySource) key(ctx context.Context, kid string) (jwk.Key, error) {
	set, err := k.cache.Get(ctx, k.url)
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Reason: "gatehouse's key set is unavailable", cause: err}
	}
	if key, ok := set.LookupKeyID(kid); ok {
		return key, nil
	}
	k.mu.Lock()
	due := k.now().Sub(k.lastRefetch) >= k.refetchEvery
	if due {
		k.lastRefetch = k.now()
	}
	k.mu.Unlock()
	if due {
		v, err, _ := k.flight.Do("refetch", func() (any, error) { return k.cache.Refresh(ctx, k.url) })
		if err == nil {
			set = v.(jwk.Set)
		}
	}
	if key, ok := set.LookupKeyID(kid); ok {
		return key, nil
	}
	return nil, invalid("the token's signing key is unknown", nil)
}

// verifySignature checks the header policy and the signature and returns
// the payload and the kid.
func (k *keySource) verifySignature(ctx context.Context, token string, algs []string) ([]byte, string, error) {
	if len(token) > maxTokenSize {
		return nil, "", invalid("the token is too large", nil)
	}
	msg, err := jws.ParseString(token)
	if err != nil || len(msg.Signatures()) != 1 || strings.Count(token, ".") != 2 {
		return nil, "", invalid("the token is not a compact JWS", err)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	alg := h.Algorithm().String()
	switch {
	case !slices.Contains(algs, alg):
		return nil, "", invalid("the token's algorithm is not allowed", nil)
	case !strings.EqualFold(h.Type(), "at+jwt") && !strings.EqualFold(h.Type(), "application/at+jwt"):
		return nil, "", invalid("the token is not an access token (typ at+jwt)", nil)
	case h.KeyID() == "":
		return nil, "", invalid("the token names no key (kid)", nil)
	case len(h.Critical()) > 0:
		return nil, "", invalid("the token has critical extensions", nil)
	}
	key, err := k.key(ctx, h.KeyID())
	if err != nil {
		return nil, "", err
	}
	if ka := key.Algorithm().String(); ka != "" && ka != alg {
		return nil, "", invalid("the token's algorithm does not match its key", nil)
	}
	if alg == jwa.RS256.String() {
		var pub rsa.PublicKey
		if err := key.Raw(&pub); err != nil || pub.N.BitLen() < 2048 {
			return nil, "", invalid("the token's key is too weak", err)
		}
	}
	payload, err := jws.Verify([]byte(token), jws.WithKey(jwa.SignatureAlgorithm(alg), key))
	if err != nil {
		return nil, "", invalid("the token's signature is invalid", err)
	}
	return payload, h.KeyID(), nil
}
