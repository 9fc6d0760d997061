package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/httprc"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse/gatehouse/service/jose"
)

const (
	// rediscoverAfter is how long a discovered jwks_uri is used before the
	// discovery document is read again (it is also read again after a
	// failed fetch).
	rediscoverAfter = 24 * time.Hour
	// fetchTimeout bounds one fetch (discovery and JWKS) whatever the client.
	fetchTimeout = 30 * time.Second
	// refreshWindow is how often the jwk.Cache looks for due refreshes
	// (httprc's minimum).
	refreshWindow = time.Second
)

// keySet is an immutable set of verification keys, built once per fetch.
type keySet struct {
	byKid map[string]int // index into all
	all   []setKey
}

type setKey struct {
	jose.PublicKey
	family []string // algorithms the key may be used with (jose.KeyFamily)
}

func (s *keySet) len() int {
	if s == nil {
		return 0
	}
	return len(s.all)
}

// find returns the key for kid bound to alg. A token without kid gets the
// only key usable with alg, if there is exactly one. A key without alg (an
// RSA JWK may omit it) is bound to alg if alg is in its family; jose's
// Verify still checks the binding.
func (s *keySet) find(kid, alg string) (jose.PublicKey, bool) {
	if s == nil {
		return jose.PublicKey{}, false
	}
	if kid != "" {
		i, ok := s.byKid[kid]
		if !ok {
			return jose.PublicKey{}, false
		}
		return s.all[i].bind(alg), true
	}
	var found jose.PublicKey
	n := 0
	for _, k := range s.all {
		if k.Alg == alg || (k.Alg == "" && slices.Contains(k.family, alg)) {
			found = k.bind(alg)
			n++
		}
	}
	return found, n == 1
}

func (k setKey) bind(alg string) jose.PublicKey {
	if k.Alg == "" && slices.Contains(k.family, alg) {
		b := k.PublicKey
		b.Alg = alg
		return b
	}
	return k.PublicKey
}

func (s *keySet) kids() []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s.all))
	for i, k := range s.all {
		out[i] = k.KID
	}
	return out
}

// keySource is the cached JWKS of one issuer and the state of fetching it.
type keySource struct {
	issuer      string
	explicitURI string // configured jwks_uri; "" = discovery

	mu             sync.RWMutex
	set            *keySet
	fetched        bool   // a key set was accepted at least once
	jwksURI        string // explicit or discovered URL in use
	regKey         string // its key in the jwk.Cache ("" = not registered)
	gen            int    // registrations so far
	discoveredAt   time.Time
	discoveryTry   time.Time
	etag           string // of body, for If-None-Match
	body           []byte // last accepted JWKS, replayed on 304
	pending        pendingFetch
	lastSuccess    time.Time
	lastAttempt    time.Time
	lastErr        string
	failures       int // consecutive
	nextRefresh    time.Time
	lastKidRefetch time.Time
	retired        bool
	// keysGen changes with every accepted key set that differs from the
	// previous one (see Verifier.Generation).
	keysGen uint64
}

// pendingFetch is what the HTTP client learned about the answer that the
// post-fetcher of the same registration is about to convert.
type pendingFetch struct {
	regKey      string
	uri         string
	body        []byte
	etag        string
	notModified bool
	rawKeys     []json.RawMessage
	lifetime    time.Duration
}

func newKeySource(issuer, explicitURI string) *keySource {
	return &keySource{issuer: issuer, explicitURI: explicitURI}
}

// current returns the cached keys and whether any were ever accepted.
func (ks *keySource) current() (*keySet, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.set, ks.fetched
}

// errSkip from a gate means no fetch is needed after all: look again.
var errSkip = errors.New("federation: fetch not needed")

// refresh fetches ks's JWKS (with rediscover: only if discovery names
// another jwks_uri, see fetch), or waits for the fetch already in progress
// (singleflight per issuer source). gate, when not nil, runs before a new
// fetch starts (never when joining one) and may refuse it. The fetch runs
// on the Verifier's own context, so a caller that gives up waiting (ctx)
// does not cancel it for the others.
func (v *Verifier) refresh(ctx context.Context, ks *keySource, rediscover bool, gate func() error) error {
	ch := v.flights.DoChan(ks.flightKey(), func() (any, error) {
		if gate != nil {
			if err := gate(); err != nil {
				return nil, err
			}
		}
		fctx, cancel := context.WithTimeout(v.ctx, 2*fetchTimeout)
		defer cancel()
		err := v.fetch(fctx, ks, rediscover)
		v.poke()
		return nil, err
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flightKey identifies ks for singleflight (a replaced source of the same
// issuer gets its own flights).
func (ks *keySource) flightKey() string { return fmt.Sprintf("%p", ks) }

// fetchError is a failed fetch; msg is safe to show and names the issuer.
type fetchError struct {
	msg string
	err error
}

func (e *fetchError) Error() string { return e.msg }
func (e *fetchError) Unwrap() error { return e.err }

func (ks *keySource) failf(cause error, format string, args ...any) *fetchError {
	return &fetchError{msg: fmt.Sprintf(format, args...), err: cause}
}

// fetch reads the issuer's JWKS (discovering its URL first if needed)
// through the jwk.Cache and installs it, or records the failure and keeps
// the old keys. Every call registers the URL afresh (see register), so the
// cache fetches now and schedules exactly one background refresh. With
// rediscover, discovery is read and the JWKS is only fetched if the
// jwks_uri changed (the jwk.Cache keeps refreshing the old one otherwise).
func (v *Verifier) fetch(ctx context.Context, ks *keySource, rediscover bool) error {
	now := v.now()
	ks.mu.Lock()
	uri, discoveredAt, failures, registered := ks.jwksURI, ks.discoveredAt, ks.failures, ks.regKey != ""
	if !rediscover {
		ks.lastAttempt = now
	}
	ks.mu.Unlock()

	prev := uri
	if ks.explicitURI != "" {
		uri = ks.explicitURI
	} else if rediscover || uri == "" || failures > 0 || now.Sub(discoveredAt) >= rediscoverAfter {
		var err error
		if uri, err = v.discover(ctx, ks); err != nil {
			return v.fail(ctx, ks, prev, err)
		}
		if rediscover && uri == prev && registered {
			return nil
		}
	}
	key, err := v.register(ks, uri)
	if err != nil {
		return v.fail(ctx, ks, uri, ks.failf(err, "JWKS of %s could not be fetched: %v", ks.issuer, err))
	}
	if _, err := v.cache.Get(ctx, key); err != nil {
		return v.fail(ctx, ks, uri, v.fetchErr(ks, uri, err))
	}
	return nil
}

// fail records err unless the Verifier is stopping, and returns it.
func (v *Verifier) fail(ctx context.Context, ks *keySource, uri string, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return err // Run is stopping: not the IdP's failure
	}
	v.recordFailure(ks, uri, err)
	return err
}

// register puts uri into the jwk.Cache under a key of its own and drops
// the previous registration of ks. httprc v1 schedules one more background
// refresh after every fetch, including forced ones, without dropping the
// one already queued; a queued refresh of an unregistered key is discarded
// instead. So each forced fetch uses a fresh key ("<uri>#gatehouse-<n>",
// the fragment is never sent), which keeps one refresh chain per issuer.
func (v *Verifier) register(ks *keySource, uri string) (string, error) {
	ks.mu.Lock()
	if ks.retired {
		ks.mu.Unlock()
		return "", errors.New("the issuer is no longer trusted")
	}
	old := ks.regKey
	ks.gen++
	key := fmt.Sprintf("%s#gatehouse-%d", uri, ks.gen)
	ks.regKey, ks.jwksURI = key, uri
	ks.mu.Unlock()

	v.regMu.Lock()
	defer v.regMu.Unlock()
	if old != "" {
		delete(v.regs, old)
		_ = v.cache.Unregister(old)
	}
	v.regs[key] = ks
	return key, v.cache.Register(key,
		jwk.WithHTTPClient(&fetchClient{v: v, ks: ks}),
		jwk.WithMinRefreshInterval(max(v.opts.MinRefetchInterval, time.Second)),
		jwk.WithIgnoreParseError(true),
		jwk.WithPostFetcher(jwk.PostFetchFunc(func(u string, set jwk.Set) (jwk.Set, error) {
			return set, v.postFetch(ks, u, set)
		})),
	)
}

// unregister drops ks from the jwk.Cache (its issuer is gone or replaced).
func (v *Verifier) unregister(ks *keySource) {
	ks.mu.Lock()
	ks.retired = true
	key := ks.regKey
	ks.mu.Unlock()
	if key == "" {
		return
	}
	v.regMu.Lock()
	delete(v.regs, key)
	_ = v.cache.Unregister(key)
	v.regMu.Unlock()
}

// refreshFailed is the jwk.Cache's ErrSink: a background refresh failed.
func (v *Verifier) refreshFailed(err error) {
	var re *httprc.RefreshError
	if !errors.As(err, &re) {
		return
	}
	v.regMu.Lock()
	ks := v.regs[re.URL]
	v.regMu.Unlock()
	if ks == nil || v.ctx.Err() != nil {
		return
	}
	ks.mu.RLock()
	uri, current := ks.jwksURI, ks.regKey == re.URL
	ks.mu.RUnlock()
	if current {
		v.recordFailure(ks, uri, v.fetchErr(ks, uri, re.Err))
	}
}

// fetchErr turns an error from the jwk.Cache into a fetchError: ours from
// the HTTP client or post-fetcher, or a parse error of jwx.
func (v *Verifier) fetchErr(ks *keySource, uri string, err error) error {
	var fe *fetchError
	if errors.As(err, &fe) {
		return fe
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ks.failf(err, "JWKS of %s could not be fetched: GET %s was cancelled or timed out", ks.issuer, uri)
	}
	inner := err
	for u := errors.Unwrap(inner); u != nil; u = errors.Unwrap(inner) {
		inner = u
	}
	return ks.failf(err, "JWKS of %s from %s is not a valid JWKS: %s", ks.issuer, uri, truncate(inner.Error()))
}

// fetchClient is the jwk.HTTPClient of one issuer: gatehouse's fetch rules
// around the jwk.Cache. It checks the URL, bounds time and size, sends
// If-None-Match and replays the cached body on 304, refuses what is not a
// JWK Set with a message naming the issuer, and rewrites Cache-Control to
// the lifetime clamped to [MinCacheLifetime, MaxCacheLifetime] so that the
// cache schedules the next refresh within those bounds.
type fetchClient struct {
	v  *Verifier
	ks *keySource
}

// Each call is a jwks.fetch span of its own: fetches run on the Verifier's
// context, shared by the callers waiting for them, or in the background.
func (c *fetchClient) Get(key string) (_ *http.Response, ferr error) {
	v, ks := c.v, c.ks
	ks.mu.Lock()
	if key != ks.regKey {
		ks.mu.Unlock()
		return nil, errors.New("federation: superseded registration")
	}
	uri, etag, cached := ks.jwksURI, ks.etag, ks.body
	ks.lastAttempt = v.now()
	ks.mu.Unlock()

	ctx, cancel := context.WithTimeout(v.ctx, fetchTimeout)
	defer cancel()
	_, span := v.tracer.Start(ctx, "jwks.fetch", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("gatehouse.federation.issuer", ks.issuer), attribute.String("url.full", uri)))
	defer func() {
		if ferr != nil {
			span.SetStatus(codes.Error, ferr.Error())
		}
		span.End()
	}()
	invalid := func(format string, args ...any) error {
		return ks.failf(nil, "JWKS of %s from %s is not a valid JWKS: %s", ks.issuer, uri, fmt.Sprintf(format, args...))
	}
	if cached == nil {
		etag = ""
	}
	res, hdr, err := v.get(ctx, uri, etag, "application/jwk-set+json, application/json")
	if err != nil {
		return nil, ks.failf(err, "JWKS of %s could not be fetched: %s", ks.issuer, reasonOf(err))
	}
	span.SetAttributes(attribute.Int("http.response.status_code", res.status))
	p := pendingFetch{regKey: key, uri: uri, etag: hdr.Get("ETag"), body: res.data,
		lifetime: cacheLifetime(hdr, v.now(), v.opts.DefaultRefresh, v.minLifetime, v.maxLifetime)}
	switch {
	case res.status == http.StatusNotModified && etag != "":
		p.notModified, p.body = true, cached
		if p.etag == "" {
			p.etag = etag
		}
	case res.status != http.StatusOK:
		return nil, invalid("HTTP status %d, want 200", res.status)
	}
	keys, reason := jwksShape(p.body)
	if reason != "" {
		return nil, invalid("%s%s", reason, contentTypeNote(res.contentType))
	}
	p.rawKeys = keys
	ks.mu.Lock()
	ks.pending = p
	ks.mu.Unlock()

	out := http.Header{}
	out.Set("Content-Type", "application/json")
	out.Set("Cache-Control", "max-age="+strconv.Itoa(int(p.lifetime/time.Second)))
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: out, Body: io.NopCloser(bytes.NewReader(p.body)), ContentLength: int64(len(p.body)),
	}, nil
}

// postFetch converts the Set jwx parsed into ks's keySet with gatehouse's
// key policy (jose.ParseJWK), skipping keys that fail it or repeat a kid,
// and installs it. A set without a usable key is a failed fetch.
func (v *Verifier) postFetch(ks *keySource, key string, set jwk.Set) error {
	ks.mu.RLock()
	p := ks.pending
	ks.mu.RUnlock()
	if p.regKey != key { // cannot happen: the cache fetches one key at a time
		return errors.New("federation: fetch state lost")
	}
	out := &keySet{byKid: map[string]int{}}
	var skipped []string
	if set.Len() < len(p.rawKeys) {
		// jwx dropped what it could not parse (WithIgnoreParseError); say why.
		for i, raw := range p.rawKeys {
			if _, err := jwk.ParseKey(raw); err != nil {
				skipped = append(skipped, fmt.Sprintf("key %d: jwx cannot parse it: %s", i, truncate(err.Error())))
			}
		}
	}
	for i := range set.Len() {
		j, _ := set.Key(i)
		k, err := jose.ParseJWK(j)
		why := ""
		if err != nil {
			why = jose.Reason(err)
		} else if _, dup := out.byKid[k.KID]; dup && k.KID != "" {
			why = "its kid repeats an earlier key's"
		}
		if why != "" {
			skipped = append(skipped, fmt.Sprintf("key (kid %q): %s", truncate(j.KeyID()), why))
			continue
		}
		fam, _ := jose.KeyFamily(k.Key) // ParseJWK checked it
		if k.KID != "" {
			out.byKid[k.KID] = len(out.all)
		}
		out.all = append(out.all, setKey{PublicKey: k, family: fam})
	}
	if len(out.all) == 0 {
		if len(p.rawKeys) == 0 {
			return ks.failf(nil, "JWKS of %s from %s is not a valid JWKS: it has no keys", ks.issuer, p.uri)
		}
		return ks.failf(nil, "JWKS of %s from %s is not a valid JWKS: none of its %d keys is a usable signature key (%s)",
			ks.issuer, p.uri, len(p.rawKeys), strings.Join(skipped, "; "))
	}
	v.recordSuccess(ks, p, out, skipped)
	return nil
}

func (v *Verifier) recordSuccess(ks *keySource, p pendingFetch, set *keySet, skipped []string) {
	now := v.now()
	ks.mu.Lock()
	recovered := ks.failures > 0
	changed := !ks.fetched || !bytes.Equal(p.body, ks.body)
	if changed {
		ks.keysGen = v.gens.Add(1)
	}
	ks.set = set
	ks.body, ks.etag = p.body, p.etag
	ks.pending = pendingFetch{}
	ks.fetched = true
	ks.lastSuccess = now
	ks.lastErr = ""
	ks.failures = 0
	ks.nextRefresh = now.Add(max(p.lifetime, v.opts.MinRefetchInterval, time.Second))
	retired := ks.retired
	ks.mu.Unlock()

	if !retired {
		result := "ok"
		if p.notModified {
			result = "not_modified"
		}
		v.metrics.fetched(ks.issuer, result)
		v.metrics.success(ks.issuer, now, set.len())
	}
	if recovered {
		v.log.Info("federation: JWKS fetch succeeded again", "issuer", ks.issuer, "jwks_uri", p.uri, "keys", set.len())
	}
	if changed {
		v.log.Info("federation: JWKS loaded", "issuer", ks.issuer, "jwks_uri", p.uri,
			"kids", set.kids(), "next_refresh", p.lifetime.String())
		for _, s := range skipped {
			v.log.Info("federation: skipped a JWKS key", "issuer", ks.issuer, "jwks_uri", p.uri, "reason", s)
		}
	}
}

func (v *Verifier) recordFailure(ks *keySource, uri string, err error) {
	now := v.now()
	msg := errMessage(err)
	ks.mu.Lock()
	ks.failures++
	n := ks.failures
	ks.lastErr = msg
	ks.pending = pendingFetch{}
	ks.nextRefresh = now.Add(max(v.opts.MinRefetchInterval, time.Second))
	kept, retired := ks.set.len(), ks.retired
	ks.mu.Unlock()

	if retired {
		return
	}
	v.metrics.fetched(ks.issuer, "error")
	attrs := []any{"issuer", ks.issuer, "jwks_uri", uri, "error", msg, "kept_keys", kept, "failures", n}
	if c := errors.Unwrap(err); c != nil {
		attrs = append(attrs, "cause", c.Error())
	}
	if n == 1 {
		v.log.Warn("federation: JWKS fetch failed; the previous keys stay in use", attrs...)
	} else {
		v.log.Debug("federation: JWKS fetch failed again", attrs...)
	}
}

// discover reads <issuer>/.well-known/openid-configuration and returns its
// jwks_uri. The document's issuer must equal the configured one exactly
// (OpenID Connect Discovery 1.0 §4.3).
func (v *Verifier) discover(ctx context.Context, ks *keySource) (string, error) {
	ks.mu.Lock()
	ks.discoveryTry = v.now()
	ks.mu.Unlock()
	u := strings.TrimSuffix(ks.issuer, "/") + "/.well-known/openid-configuration"
	body, _, err := v.get(ctx, u, "", "application/json")
	if err != nil {
		return "", ks.failf(err, "discovery for %s failed: %s", ks.issuer, reasonOf(err))
	}
	if body.status != http.StatusOK {
		return "", ks.failf(nil, "discovery for %s failed: GET %s answered HTTP %d", ks.issuer, u, body.status)
	}
	var doc struct {
		Issuer  *string `json:"issuer"`
		JWKSURI *string `json:"jwks_uri"`
	}
	if !isObject(body.data) || json.Unmarshal(body.data, &doc) != nil {
		return "", ks.failf(nil, "discovery for %s failed: %s is not a JSON object%s", ks.issuer, u, contentTypeNote(body.contentType))
	}
	if doc.Issuer == nil || *doc.Issuer != ks.issuer {
		got := "no issuer"
		if doc.Issuer != nil {
			got = fmt.Sprintf("issuer %q", truncate(*doc.Issuer))
		}
		return "", ks.failf(nil, "discovery for %s failed: %s names %s, not %q", ks.issuer, u, got, ks.issuer)
	}
	if doc.JWKSURI == nil || *doc.JWKSURI == "" {
		return "", ks.failf(nil, "discovery for %s failed: %s has no jwks_uri", ks.issuer, u)
	}
	if err := CheckURL(*doc.JWKSURI); err != nil {
		return "", ks.failf(err, "discovery for %s failed: its jwks_uri is refused: %s", ks.issuer, err.Error())
	}
	ks.mu.Lock()
	ks.discoveredAt = v.now()
	ks.mu.Unlock()
	return *doc.JWKSURI, nil
}

// response is a read answer.
type response struct {
	status      int
	data        []byte
	contentType string
}

// errTooLarge is a body over MaxDocumentSize.
var errTooLarge = fmt.Errorf("the answer is larger than %d bytes", MaxDocumentSize)

// get performs a GET of u (which must pass CheckURL) and reads at most
// MaxDocumentSize bytes of a 200 answer.
func (v *Verifier) get(ctx context.Context, u, etag, accept string) (response, http.Header, error) {
	if err := CheckURL(u); err != nil {
		return response{}, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return response{}, nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "gatehouse-federation")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return response{}, nil, err
	}
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type")}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return out, resp.Header, nil
	}
	out.data, err = io.ReadAll(io.LimitReader(resp.Body, MaxDocumentSize+1))
	if err != nil {
		return response{}, nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(out.data) > MaxDocumentSize {
		return response{}, nil, errTooLarge
	}
	return out, resp.Header, nil
}

// reasonOf describes a transport error without repeating the URL twice.
func reasonOf(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("GET %s timed out", ue.URL)
		}
		return fmt.Sprintf("GET %s: %v", ue.URL, ue.Err)
	}
	return err.Error()
}

func contentTypeNote(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return " (unparsable Content-Type)"
	}
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return ""
	}
	return fmt.Sprintf(" (Content-Type %s)", truncate(mt))
}

func isObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// jwksShape checks that data is a JSON object with a "keys" array (so that
// jwk.Parse never takes it for a single key) and returns the array's
// elements; reason is non-empty if it is not. The keys themselves are
// jwx's to parse.
func jwksShape(data []byte) (keys []json.RawMessage, reason string) {
	var doc map[string]json.RawMessage
	if !isObject(data) || json.Unmarshal(data, &doc) != nil {
		return nil, "the answer is not a JSON object"
	}
	rawKeys, ok := doc["keys"]
	if !ok {
		return nil, `the answer has no "keys" member`
	}
	if err := json.Unmarshal(rawKeys, &keys); err != nil || keys == nil {
		return nil, `"keys" is not an array`
	}
	if len(keys) == 0 {
		return nil, "it has no keys"
	}
	return keys, ""
}

// cacheLifetime is how long an answer with header h stays fresh:
// Cache-Control max-age (minus Age) or Expires (against Date), clamped to
// [lo, hi]; no-store and no-cache count as 0. Without any of these it is
// def (also clamped).
func cacheLifetime(h http.Header, now time.Time, def, lo, hi time.Duration) time.Duration {
	var d time.Duration
	found := false
	for _, line := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				d, found = 0, true
			case "max-age":
				secs, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
				if err != nil || secs < 0 {
					d = 0
				} else {
					d = time.Duration(min(secs, int64(hi/time.Second))) * time.Second
				}
				found = true
			}
		}
		if found {
			break
		}
	}
	if found {
		if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
			d -= time.Duration(min(age, int64(hi/time.Second))) * time.Second
		}
	} else if exp := h.Get("Expires"); exp != "" {
		found = true
		if t, err := http.ParseTime(exp); err == nil {
			base := now
			if date, err := http.ParseTime(h.Get("Date")); err == nil {
				base = date
			}
			d = t.Sub(base)
		} // an invalid Expires means already expired (RFC 9111 §5.3)
	}
	if !found {
		d = def
	}
	return min(max(d, lo), hi)
}

// CheckURL reports whether u may be fetched: an absolute https URL, or http
// only for a loopback host (127.0.0.0/8, ::1, localhost), without user
// information. The admin API can use it to refuse a bad jwks_uri early.
func CheckURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("%q is not a URL", truncate(u))
	}
	return checkParsedURL(p)
}

func checkParsedURL(p *url.URL) error {
	shown := truncate(p.Redacted())
	if p.User != nil {
		return fmt.Errorf("%q has user information, which is not allowed", shown)
	}
	if p.Host == "" || p.Hostname() == "" {
		return fmt.Errorf("%q is not an absolute URL with a host", shown)
	}
	switch strings.ToLower(p.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(p.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q uses http://, which is only allowed for loopback hosts (127.0.0.0/8, ::1, localhost); use https", shown)
	}
	return fmt.Errorf("%q is not an https URL", shown)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}

// httpClient returns the client to fetch with: c with CheckRedirect
// refusing redirects to URLs CheckURL refuses (and more than 5), or a
// default one with a 10 s timeout.
func httpClient(c *http.Client) *http.Client {
	var out http.Client
	if c != nil {
		out = *c
	} else {
		out.Timeout = DefaultHTTPTimeout
	}
	next := out.CheckRedirect
	out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("stopped after 5 redirects")
		}
		if err := checkParsedURL(req.URL); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &out
}
