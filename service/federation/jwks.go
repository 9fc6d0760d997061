package federation

import (
	"bytes"
	"context"
	"crypto/sha256"
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

	"github.com/gatehouse/gatehouse/service/jose"
)

// rediscoverAfter is how long a discovered jwks_uri is used before the
// discovery document is read again (it is also read again after any failed
// fetch).
const rediscoverAfter = 24 * time.Hour

// fetchTimeout bounds one fetch (discovery and JWKS) whatever the client.
const fetchTimeout = 30 * time.Second

// keySet is an immutable set of verification keys.
type keySet struct {
	byKid map[string]jose.PublicKey
	all   []jose.PublicKey
}

func (s *keySet) len() int {
	if s == nil {
		return 0
	}
	return len(s.all)
}

// find returns the key for kid. A token without kid gets the only key of
// its algorithm, if there is exactly one.
func (s *keySet) find(kid, alg string) (jose.PublicKey, bool) {
	if s == nil {
		return jose.PublicKey{}, false
	}
	if kid != "" {
		k, ok := s.byKid[kid]
		return k, ok
	}
	var found jose.PublicKey
	n := 0
	for _, k := range s.all {
		if k.Alg == alg {
			found = k
			n++
		}
	}
	return found, n == 1
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
	jwksURI        string // explicit or discovered URL last used
	discoveredAt   time.Time
	etag           string
	etagURI        string
	bodyHash       [32]byte
	lastSuccess    time.Time
	lastAttempt    time.Time
	lastErr        string
	failures       int // consecutive
	nextRefresh    time.Time
	lastKidRefetch time.Time
	retired        bool

	flightMu sync.Mutex
	flight   *flight
}

// flight is one fetch in progress; concurrent callers wait for it.
type flight struct {
	done chan struct{}
	err  error
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

func (ks *keySource) retire() {
	ks.mu.Lock()
	ks.retired = true
	ks.mu.Unlock()
}

func (ks *keySource) inFlight() bool {
	ks.flightMu.Lock()
	defer ks.flightMu.Unlock()
	return ks.flight != nil
}

// errSkip from a gate means no fetch is needed after all: look again.
var errSkip = errors.New("federation: fetch not needed")

// refresh fetches ks's JWKS, or waits for the fetch already in progress
// (singleflight). gate, when not nil, runs before a new fetch is started
// (never when joining one) and may refuse it. The fetch runs with fetchCtx
// in its own goroutine, so a caller that gives up waiting (waitCtx) does not
// cancel it for the others.
func (v *Verifier) refresh(waitCtx, fetchCtx context.Context, ks *keySource, gate func() error) error {
	ks.flightMu.Lock()
	f := ks.flight
	if f == nil {
		if gate != nil {
			if err := gate(); err != nil {
				ks.flightMu.Unlock()
				return err
			}
		}
		f = &flight{done: make(chan struct{})}
		ks.flight = f
		go func() {
			ctx, cancel := context.WithTimeout(fetchCtx, fetchTimeout)
			f.err = v.fetch(ctx, ks)
			cancel()
			ks.flightMu.Lock()
			ks.flight = nil
			ks.flightMu.Unlock()
			close(f.done)
			v.poke()
		}()
	}
	ks.flightMu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-waitCtx.Done():
		return waitCtx.Err()
	}
}

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

// fetch reads the issuer's JWKS (discovering its URL first if needed) and
// installs it, or records the failure and keeps the old keys.
func (v *Verifier) fetch(ctx context.Context, ks *keySource) error {
	now := v.now()
	ks.mu.Lock()
	ks.lastAttempt = now
	jwksURI, discoveredAt, failures := ks.jwksURI, ks.discoveredAt, ks.failures
	etag := ""
	if ks.fetched && ks.etagURI == jwksURI {
		etag = ks.etag
	}
	ks.mu.Unlock()

	var err error
	if ks.explicitURI != "" {
		jwksURI = ks.explicitURI
	} else if jwksURI == "" || failures > 0 || now.Sub(discoveredAt) >= rediscoverAfter {
		var discovered string
		discovered, err = v.discover(ctx, ks)
		if err == nil {
			if discovered != jwksURI {
				etag = ""
			}
			jwksURI = discovered
			ks.mu.Lock()
			ks.jwksURI, ks.discoveredAt = discovered, now
			ks.mu.Unlock()
		}
	}
	var res fetchResult
	if err == nil {
		res, err = v.getJWKS(ctx, ks, jwksURI, etag)
	}
	if err != nil {
		if isCancel(ctx, err) {
			return err // Run is stopping: not the IdP's failure
		}
		v.recordFailure(ks, jwksURI, err)
		return err
	}
	v.recordSuccess(ks, jwksURI, res)
	return nil
}

// fetchResult is an accepted JWKS answer.
type fetchResult struct {
	set         *keySet // nil for 304 Not Modified
	skipped     []string
	etag        string
	hash        [32]byte
	lifetime    time.Duration
	notModified bool
}

func (v *Verifier) recordSuccess(ks *keySource, jwksURI string, res fetchResult) {
	now := v.now()
	ks.mu.Lock()
	recovered := ks.failures > 0
	changed := !res.notModified && (!ks.fetched || res.hash != ks.bodyHash)
	if !res.notModified {
		ks.set = res.set
		ks.bodyHash = res.hash
		ks.etag, ks.etagURI = res.etag, jwksURI
	} else if res.etag != "" {
		ks.etag = res.etag
	}
	ks.fetched = true
	ks.jwksURI = jwksURI
	ks.lastSuccess = now
	ks.lastErr = ""
	ks.failures = 0
	ks.nextRefresh = now.Add(res.lifetime)
	set, retired := ks.set, ks.retired
	ks.mu.Unlock()

	if !retired {
		result := "ok"
		if res.notModified {
			result = "not_modified"
		}
		v.metrics.fetched(ks.issuer, result)
		v.metrics.success(ks.issuer, now, set.len())
	}
	if recovered {
		v.log.Info("federation: JWKS fetch succeeded again", "issuer", ks.issuer, "jwks_uri", jwksURI, "keys", set.len())
	}
	if changed {
		v.log.Info("federation: JWKS loaded", "issuer", ks.issuer, "jwks_uri", jwksURI,
			"kids", set.kids(), "next_refresh", res.lifetime.String())
		for _, s := range res.skipped {
			v.log.Info("federation: skipped a JWKS key", "issuer", ks.issuer, "jwks_uri", jwksURI, "reason", s)
		}
	}
}

func (v *Verifier) recordFailure(ks *keySource, jwksURI string, err error) {
	now := v.now()
	msg := errMessage(err)
	ks.mu.Lock()
	ks.failures++
	n := ks.failures
	ks.lastErr = msg
	ks.nextRefresh = now.Add(v.backoff(n))
	kept, retired := ks.set.len(), ks.retired
	ks.mu.Unlock()

	if !retired {
		v.metrics.fetched(ks.issuer, "error")
	}
	attrs := []any{"issuer", ks.issuer, "jwks_uri", jwksURI, "error", msg, "kept_keys", kept, "failures", n}
	if c := errors.Unwrap(err); c != nil {
		attrs = append(attrs, "cause", c.Error())
	}
	if n == 1 {
		v.log.Warn("federation: JWKS fetch failed; the previous keys stay in use", attrs...)
	} else {
		v.log.Debug("federation: JWKS fetch failed again", attrs...)
	}
}

// backoff is the retry delay after n consecutive failures:
// MinRefetchInterval doubling up to 5 minutes (at least 1 s).
func (v *Verifier) backoff(n int) time.Duration {
	const ceiling = 5 * time.Minute
	d := max(v.opts.MinRefetchInterval, time.Second)
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	return min(d, max(ceiling, v.opts.MinRefetchInterval))
}

// discover reads <issuer>/.well-known/openid-configuration and returns its
// jwks_uri. The document's issuer must equal the configured one exactly
// (OpenID Connect Discovery 1.0 §4.3).
func (v *Verifier) discover(ctx context.Context, ks *keySource) (string, error) {
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
	return *doc.JWKSURI, nil
}

// getJWKS fetches and parses the JWKS at u, conditionally when etag is set.
func (v *Verifier) getJWKS(ctx context.Context, ks *keySource, u, etag string) (fetchResult, error) {
	invalid := func(format string, args ...any) error {
		return ks.failf(nil, "JWKS of %s from %s is not a valid JWKS: %s", ks.issuer, u, fmt.Sprintf(format, args...))
	}
	body, hdr, err := v.get(ctx, u, etag, "application/jwk-set+json, application/json")
	if err != nil {
		return fetchResult{}, ks.failf(err, "JWKS of %s could not be fetched: %s", ks.issuer, reasonOf(err))
	}
	lifetime := cacheLifetime(hdr, v.now(), v.opts.DefaultRefresh)
	switch {
	case body.status == http.StatusNotModified && etag != "":
		return fetchResult{notModified: true, etag: hdr.Get("ETag"), lifetime: lifetime}, nil
	case body.status != http.StatusOK:
		return fetchResult{}, invalid("HTTP status %d, want 200", body.status)
	}
	set, skipped, reason := parseJWKS(body.data)
	if reason != "" {
		return fetchResult{}, invalid("%s%s", reason, contentTypeNote(body.contentType))
	}
	return fetchResult{
		set:      set,
		skipped:  skipped,
		etag:     hdr.Get("ETag"),
		hash:     sha256.Sum256(body.data),
		lifetime: lifetime,
	}, nil
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

// parseJWKS parses a JWK Set strictly. Keys that do not parse, are not
// signature keys, or repeat a kid are skipped (and described in skipped);
// reason is non-empty if the document is not a usable JWKS at all.
func parseJWKS(data []byte) (set *keySet, skipped []string, reason string) {
	var doc map[string]json.RawMessage
	if !isObject(data) || json.Unmarshal(data, &doc) != nil {
		return nil, nil, "the answer is not a JSON object"
	}
	rawKeys, ok := doc["keys"]
	if !ok {
		return nil, nil, `the answer has no "keys" member`
	}
	var keys []json.RawMessage
	if err := json.Unmarshal(rawKeys, &keys); err != nil || keys == nil {
		return nil, nil, `"keys" is not an array`
	}
	set = &keySet{byKid: map[string]jose.PublicKey{}}
	for i, raw := range keys {
		j, why := decodeJWK(raw)
		if why == "" {
			var k jose.PublicKey
			var err error
			if k, err = jose.ParsePublicJWK(j); err != nil {
				why = jose.Reason(err)
			} else if _, dup := set.byKid[k.KID]; dup && k.KID != "" {
				why = "its kid repeats an earlier key's"
			} else {
				if k.KID != "" {
					set.byKid[k.KID] = k
				}
				set.all = append(set.all, k)
				continue
			}
		}
		skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %s", i, truncate(j.Kid), why))
	}
	if len(set.all) == 0 {
		if len(keys) == 0 {
			return nil, skipped, "it has no keys"
		}
		return nil, skipped, fmt.Sprintf("none of its %d keys is a usable signature key (%s)", len(keys), strings.Join(skipped, "; "))
	}
	return set, skipped, ""
}

// decodeJWK reads the members jose.JWK knows, with exact (case-sensitive)
// names; a known member that is not a string, a use other than "sig", or
// key_ops without "verify" make the key unusable.
func decodeJWK(raw json.RawMessage) (jose.JWK, string) {
	var m map[string]json.RawMessage
	if !isObject(raw) || json.Unmarshal(raw, &m) != nil {
		return jose.JWK{}, "it is not a JSON object"
	}
	var j jose.JWK
	for name, dst := range map[string]*string{
		"kty": &j.Kty, "kid": &j.Kid, "use": &j.Use, "alg": &j.Alg,
		"crv": &j.Crv, "x": &j.X, "y": &j.Y, "n": &j.N, "e": &j.E,
	} {
		v, ok := m[name]
		if !ok {
			continue
		}
		if json.Unmarshal(v, dst) != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return j, fmt.Sprintf("member %s is not a string", name)
		}
	}
	if j.Use != "" && j.Use != "sig" {
		return j, fmt.Sprintf("use is %q, not \"sig\"", truncate(j.Use))
	}
	if v, ok := m["key_ops"]; ok {
		var ops []string
		if json.Unmarshal(v, &ops) != nil || !slices.Contains(ops, "verify") {
			return j, `key_ops does not contain "verify"`
		}
	}
	return j, ""
}

// cacheLifetime is how long an answer with header h stays fresh:
// Cache-Control max-age (minus Age) or Expires (against Date), clamped to
// [MinCacheLifetime, MaxCacheLifetime]; no-store and no-cache count as 0.
// Without any of these it is def.
func cacheLifetime(h http.Header, now time.Time, def time.Duration) time.Duration {
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
					d = time.Duration(min(secs, int64(MaxCacheLifetime/time.Second))) * time.Second
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
			d -= time.Duration(min(age, int64(MaxCacheLifetime/time.Second))) * time.Second
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
		return def
	}
	return min(max(d, MinCacheLifetime), MaxCacheLifetime)
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
