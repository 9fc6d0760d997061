package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/store"
)

// TestIdPDown: when the IdP fails, the keys fetched before keep working,
// failures are counted, and each failure streak is logged once at warn.
func TestIdPDown(t *testing.T) {
	idp := fakeidp.New(t)
	iss := idp.IssuerV2()
	h := newHarness(t, Options{}, v2Issuer(idp))
	token := idp.Token(idp.DefaultClaims(iss, ""))
	h.mustVerify(token)
	errors := func() float64 {
		return h.metric("gatehouse_federation_jwks_fetch_total", map[string]string{"issuer": iss, "result": "error"})
	}
	okAt := h.status(iss).LastSuccess

	idp.SetMode(fakeidp.ModeDown)
	for i := range 3 {
		h.clock.Advance(time.Minute)
		err := h.refreshNow(iss)
		if err == nil || !strings.Contains(err.Error(), iss) || !strings.Contains(err.Error(), "503") {
			t.Fatalf("refresh %d: error %v, want one naming the issuer and 503", i, err)
		}
		h.mustVerify(token)
	}
	if got := errors(); got != 3 {
		t.Errorf("error metric = %v, want 3", got)
	}
	st := h.status(iss)
	if st.Keys != 1 || st.ConsecutiveFailures != 3 || !st.LastSuccess.Equal(okAt) || !strings.Contains(st.LastError, "503") {
		t.Errorf("status = %+v", st)
	}
	if n := h.logs.count("level=WARN", "JWKS fetch failed"); n != 1 {
		t.Errorf("%d warnings for one failure streak, want 1", n)
	}

	// A new kid while the IdP is down: refused, old keys kept.
	other := withKid(token, randomKid())
	_, err := h.verify(other)
	wantErr(t, err, other, errs.Unauthenticated, "unknown signing key for "+iss, "refetching its keys failed", "503")
	h.mustVerify(token)

	// Recovery, then a new streak logs again.
	idp.SetMode(fakeidp.ModeNormal)
	if err := h.refreshNow(iss); err != nil {
		t.Fatal(err)
	}
	if n := h.logs.count("level=INFO", "succeeded again"); n != 1 {
		t.Errorf("recovery logged %d times", n)
	}
	if st := h.status(iss); st.LastError != "" || st.ConsecutiveFailures != 0 {
		t.Errorf("status after recovery = %+v", st)
	}
	idp.SetMode(fakeidp.ModeDown)
	_ = h.refreshNow(iss)
	if n := h.logs.count("level=WARN", "JWKS fetch failed"); n != 2 {
		t.Errorf("%d warnings after a second streak, want 2", n)
	}

	// Connection refused.
	idp.Close()
	before := errors()
	err = h.refreshNow(iss)
	if err == nil || !strings.Contains(err.Error(), iss) {
		t.Fatalf("refresh against a closed IdP: %v", err)
	}
	h.mustVerify(token)
	if got := errors(); got != before+1 {
		t.Errorf("error metric %v → %v", before, got)
	}
	if got := h.metric("gatehouse_federation_jwks_keys", map[string]string{"issuer": iss}); got != 1 {
		t.Errorf("keys metric = %v, want 1", got)
	}
}

// TestInvalidJWKS: answers that are not a JWKS are refused with a message
// naming the issuer and what is wrong; cached keys are kept.
func TestInvalidJWKS(t *testing.T) {
	cases := []struct {
		mode fakeidp.Mode
		want string
	}{
		{fakeidp.ModeGarbage, "is not a valid JWKS: the answer is not a JSON object"},
		{fakeidp.ModeInvalidJWKS, `is not a valid JWKS: the answer has no "keys" member`},
		{fakeidp.ModeNoUsableKeys, `is not a valid JWKS: none of its 1 keys is a usable signature key`},
	}
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			idp := fakeidp.New(t)
			iss := idp.IssuerV1()
			token := idp.Token(idp.DefaultClaims(iss, ""))

			// Never fetched: Verify says why.
			idp.SetMode(c.mode)
			fresh := newHarness(t, Options{}, v1Issuer(idp))
			_, err := fresh.verify(token)
			wantErr(t, err, token, errs.Unauthenticated, "signing keys of "+iss+" are not available", "JWKS of "+iss, c.want)

			// Cached: refused, old keys kept.
			idp.SetMode(fakeidp.ModeNormal)
			h := newHarness(t, Options{}, v1Issuer(idp))
			h.mustVerify(token)
			idp.SetMode(c.mode)
			err = h.refreshNow(iss)
			if err == nil || !strings.Contains(err.Error(), iss) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("refresh: %v, want an error naming %s and containing %q", err, iss, c.want)
			}
			st := h.status(iss)
			if !strings.Contains(st.LastError, c.want) || st.Keys != 1 {
				t.Errorf("status = %+v", st)
			}
			h.mustVerify(token)
			if n := h.logs.count("level=WARN", "JWKS fetch failed", c.want[len("is not a valid JWKS: "):][:15]); n != 1 {
				t.Errorf("%d warnings naming the problem, want 1", n)
			}
			if got := h.metric("gatehouse_federation_jwks_fetch_total", map[string]string{"issuer": iss, "result": "error"}); got != 1 {
				t.Errorf("error metric = %v", got)
			}
		})
	}
}

// TestJWKSServer covers answers the fake IdP does not give: sizes, status
// codes, odd keys, and redirects.
func TestJWKSServer(t *testing.T) {
	idp := fakeidp.New(t) // for a real key
	var good map[string]any
	if err := json.Unmarshal(idp.PublicJWKJSON(), &good); err != nil {
		t.Fatal(err)
	}
	goodJSON := fmt.Sprintf(`{"kty":"RSA","kid":%q,"n":%q,"e":%q}`, good["kid"], good["n"], good["e"])
	type answer struct {
		status int
		ctype  string
		body   string
		loc    string
	}
	cases := []struct {
		name    string
		answer  answer
		wantErr string // "" = accepted
		keys    int
	}{
		{"minimal", answer{200, "application/json", `{"keys":[` + goodJSON + `]}`, ""}, "", 1},
		{"jwk-set content type and extra members", answer{200, "application/jwk-set+json", `{"keys":[` + goodJSON + `],"other":1}`, ""}, "", 1},
		{"keycloak style: an enc key is skipped", answer{200, "application/json",
			`{"keys":[{"kid":"enc1","kty":"RSA","alg":"RSA-OAEP","use":"enc","n":"x","e":"AQAB"},` + goodJSON + `]}`, ""}, "", 1},
		{"bad keys are skipped", answer{200, "application/json",
			`{"keys":[1,{"kty":"oct","k":"c2VjcmV0"},{"kty":"RSA","kid":5},{"kty":"RSA","kid":"short","n":"AQAB","e":"AQAB"},` + goodJSON + `,` + goodJSON + `]}`, ""}, "", 1},
		{"unknown kty and a malformed member are skipped, not fatal", answer{200, "application/json",
			`{"keys":[{"kty":"XYZ","kid":"x"},{"kty":"EC","crv":"P-256","x":5},` + goodJSON + `]}`, ""}, "", 1},
		{"only a symmetric key", answer{200, "application/json", `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, ""}, "none of its 1 keys is a usable signature key", 0},
		{"only unparsable keys", answer{200, "application/json", `{"keys":[{"kty":"XYZ"},2]}`, ""}, "none of its 2 keys is a usable signature key (key 0: jwx cannot parse it", 0},
		{"key_ops without verify", answer{200, "application/json", `{"keys":[` + strings.TrimSuffix(goodJSON, "}") + `,"key_ops":["encrypt"]}]}`, ""}, "none of its 1 keys", 0},
		{"HTML error page", answer{200, "text/html", "<html>sign in</html>", ""}, "not a JSON object (Content-Type text/html)", 0},
		{"keys is not an array", answer{200, "application/json", `{"keys":{}}`, ""}, `"keys" is not an array`, 0},
		{"keys is null", answer{200, "application/json", `{"keys":null}`, ""}, `"keys" is not an array`, 0},
		{"empty keys", answer{200, "application/json", `{"keys":[]}`, ""}, "it has no keys", 0},
		{"JSON array", answer{200, "application/json", `[` + goodJSON + `]`, ""}, "not a JSON object", 0},
		{"404", answer{404, "text/plain", "not found", ""}, "HTTP status 404, want 200", 0},
		{"too large", answer{200, "application/json", `{"keys":[` + goodJSON + `],"pad":"` + strings.Repeat("x", MaxDocumentSize) + `"}`, ""}, "larger than 1048576 bytes", 0},
		{"redirect to http non-loopback", answer{302, "", "", "http://idp.example.com/keys"}, "redirect refused", 0},
		{"redirect to a loopback URL", answer{302, "", "", "/final"}, "", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				a := c.answer
				if r.URL.Path == "/final" {
					a = answer{200, "application/json", `{"keys":[` + goodJSON + `]}`, ""}
				}
				if a.loc != "" {
					w.Header().Set("Location", a.loc)
				}
				if a.ctype != "" {
					w.Header().Set("Content-Type", a.ctype)
				}
				w.WriteHeader(a.status)
				_, _ = w.Write([]byte(a.body))
			}))
			defer srv.Close()
			ti := store.TrustedIssuer{Issuer: "https://idp.example.com/realms/corp", JWKSURI: srv.URL + "/keys", Audiences: []string{"a"}}
			h := newHarness(t, Options{}, ti)
			err := h.refreshNow(ti.Issuer)
			st := h.status(ti.Issuer)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("refresh: %v", err)
				}
				if st.Keys != c.keys {
					t.Errorf("%d keys, want %d", st.Keys, c.keys)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), ti.Issuer) {
				t.Fatalf("refresh: %v, want an error naming the issuer and containing %q", err, c.wantErr)
			}
			if st.LastError == "" || st.Keys != 0 {
				t.Errorf("status = %+v", st)
			}
		})
	}
}

// TestDiscovery: the v2.0 issuer's jwks_uri is discovered; discovery
// answers that do not match are refused.
func TestDiscovery(t *testing.T) {
	idp := fakeidp.New(t)
	h := newHarness(t, Options{}, v2Issuer(idp))
	h.mustVerify(idp.Token(idp.DefaultClaims(idp.IssuerV2(), "")))
	st := h.status(idp.IssuerV2())
	if !st.Discovered || st.JWKSURI != idp.JWKSURI() || st.Keys != 1 || st.LastSuccess.IsZero() {
		t.Errorf("status = %+v", st)
	}
	if idp.DiscoveryFetches() != 1 {
		t.Errorf("%d discovery fetches", idp.DiscoveryFetches())
	}

	// A refresh reuses the discovered jwks_uri (conditional GET: 304).
	if err := h.refreshNow(idp.IssuerV2()); err != nil {
		t.Fatal(err)
	}
	if idp.DiscoveryFetches() != 1 || idp.NotModified() != 1 {
		t.Errorf("discovery fetches %d, 304s %d; want 1, 1", idp.DiscoveryFetches(), idp.NotModified())
	}
	// After a failure, discovery is read again.
	idp.SetMode(fakeidp.ModeGarbage)
	_ = h.refreshNow(idp.IssuerV2())
	idp.SetMode(fakeidp.ModeNormal)
	if err := h.refreshNow(idp.IssuerV2()); err != nil {
		t.Fatal(err)
	}
	if idp.DiscoveryFetches() != 2 {
		t.Errorf("discovery fetches %d, want 2", idp.DiscoveryFetches())
	}

	// The v1.0 document names https://sts.windows.net/<tenant>/, so a
	// v1 issuer at the fake's URL does not match it.
	wrong := store.TrustedIssuer{Issuer: idp.URL() + "/" + idp.Tenant(), Audiences: []string{idp.Audience()}}
	// The issuer with a trailing slash has the same discovery URL, but the
	// document names the issuer without it.
	slash := store.TrustedIssuer{Issuer: idp.IssuerV2() + "/", Audiences: []string{idp.Audience()}}
	notFound := store.TrustedIssuer{Issuer: idp.URL() + "/nope", Audiences: []string{idp.Audience()}}
	h2 := newHarness(t, Options{}, wrong, slash, notFound)
	for _, c := range []struct {
		iss, want string
	}{
		{wrong.Issuer, `names issuer "https://sts.windows.net/`},
		{slash.Issuer, fmt.Sprintf("names issuer %q, not %q", idp.IssuerV2(), slash.Issuer)},
		{notFound.Issuer, "answered HTTP 404"},
	} {
		token := idp.Token(idp.DefaultClaims(c.iss, ""))
		_, err := h2.verify(token)
		wantErr(t, err, token, errs.Unauthenticated, "signing keys of "+c.iss+" are not available", "discovery for "+c.iss+" failed", c.want)
	}
}

// TestHTTPRefused: http:// is only fetched from loopback hosts.
func TestHTTPRefused(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"https://login.microsoftonline.com/tid/discovery/v2.0/keys", true},
		{"HTTPS://keycloak.example.com:8443/realms/x/protocol/openid-connect/certs", true},
		{"http://127.0.0.1:8080/keys", true},
		{"http://127.9.8.7/keys", true},
		{"http://[::1]:9000/keys", true},
		{"http://[::ffff:127.0.0.1]/keys", true},
		{"http://localhost:8080/keys", true},
		{"http://LocalHost/keys", true},
		{"http://idp.example.com/keys", false},
		{"http://10.0.0.1/keys", false},
		{"http://128.0.0.1/keys", false},
		{"http://127.0.0.1.nip.io/keys", false},
		{"http://localhost.example.com/keys", false},
		{"http://[fe80::1%25lo]/keys", false},
		{"https://user:secret@idp.example.com/keys", false},
		{"ftp://idp.example.com/keys", false},
		{"/keys", false},
		{"https:///keys", false},
		{"http://", false},
		{"::", false},
	} {
		err := CheckURL(c.url)
		if (err == nil) != c.ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", c.url, err, c.ok)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("CheckURL leaks the password: %v", err)
		}
	}
	if err := CheckURL("http://idp.example.com/keys"); err == nil || !strings.Contains(err.Error(), "only allowed for loopback hosts") {
		t.Errorf("CheckURL error %v does not say why", err)
	}

	// No request is made for a refused URL.
	noNet := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("request to %s", r.URL)
		return nil, errors.New("no network")
	})}
	explicit := store.TrustedIssuer{Issuer: "https://corp.example.com/realms/a", JWKSURI: "http://corp.example.com/keys", Audiences: []string{"a"}}
	discovered := store.TrustedIssuer{Issuer: "http://corp.example.com/realms/b", Audiences: []string{"a"}}
	h := newHarness(t, Options{HTTPClient: noNet}, explicit, discovered)
	idp := fakeidp.New(t)
	for _, ti := range []store.TrustedIssuer{explicit, discovered} {
		token := idp.Token(idp.DefaultClaims(ti.Issuer, "a"))
		_, err := h.verify(token)
		wantErr(t, err, token, errs.Unauthenticated, "signing keys of "+ti.Issuer+" are not available", "only allowed for loopback hosts")
	}

	// A discovery document naming an http:// jwks_uri is refused too.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":"http://corp.example.com/certs"}`, "http://"+r.Host+"/realms/c")
	}))
	defer srv.Close()
	iss := srv.URL + "/realms/c"
	h = newHarness(t, Options{}, store.TrustedIssuer{Issuer: iss, Audiences: []string{"a"}})
	if err := h.refreshNow(iss); err == nil || !strings.Contains(err.Error(), "its jwks_uri is refused") || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("refresh: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestNeverFetchedRateLimit: while an IdP whose keys were never fetched is
// down, Verify tries at most once per MinRefetchInterval.
func TestNeverFetchedRateLimit(t *testing.T) {
	clock := newClock()
	idp := fakeidp.New(t, fakeidp.WithClock(clock.Now))
	idp.SetMode(fakeidp.ModeDown)
	h := newHarnessClock(t, clock, Options{MinRefetchInterval: 30 * time.Second}, v1Issuer(idp))
	token := idp.Token(idp.DefaultClaims(idp.IssuerV1(), ""))
	for range 5 {
		_, err := h.verify(token)
		wantErr(t, err, token, errs.Unauthenticated, "signing keys of "+idp.IssuerV1()+" are not available", "HTTP status 503")
	}
	if n := idp.JWKSFetches(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	idp.SetMode(fakeidp.ModeNormal)
	h.clock.Advance(29 * time.Second)
	if _, err := h.verify(token); err == nil {
		t.Error("verified within the retry interval")
	}
	h.clock.Advance(time.Second)
	h.mustVerify(token)
	if n := idp.JWKSFetches(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

func TestCacheLifetime(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	def := 42 * time.Minute
	httpDate := func(t time.Time) string { return t.UTC().Format(http.TimeFormat) }
	for _, c := range []struct {
		name string
		hdr  map[string]string
		want time.Duration
	}{
		{"none", nil, def},
		{"max-age", map[string]string{"Cache-Control": "public, max-age=3600"}, time.Hour},
		{"max-age entra", map[string]string{"Cache-Control": "max-age=86400, private"}, 24 * time.Hour},
		{"max-age clamped up", map[string]string{"Cache-Control": "max-age=5"}, time.Minute},
		{"max-age clamped down", map[string]string{"Cache-Control": "max-age=864000"}, 24 * time.Hour},
		{"max-age huge", map[string]string{"Cache-Control": "max-age=99999999999999999999"}, time.Minute},
		{"max-age minus Age", map[string]string{"Cache-Control": "max-age=600", "Age": "120"}, 8 * time.Minute},
		{"no-cache", map[string]string{"Cache-Control": "no-cache"}, time.Minute},
		{"no-store wins over Expires", map[string]string{"Cache-Control": "no-store", "Expires": httpDate(now.Add(time.Hour))}, time.Minute},
		{"max-age wins over Expires", map[string]string{"Cache-Control": "max-age=300", "Expires": httpDate(now.Add(time.Hour))}, 5 * time.Minute},
		{"Cache-Control without max-age", map[string]string{"Cache-Control": "public"}, def},
		{"Expires against Date", map[string]string{"Expires": httpDate(now.Add(3 * time.Hour)), "Date": httpDate(now.Add(-time.Hour))}, 4 * time.Hour},
		{"Expires against now", map[string]string{"Expires": httpDate(now.Add(2 * time.Hour))}, 2 * time.Hour},
		{"Expires in the past", map[string]string{"Expires": httpDate(now.Add(-time.Hour))}, time.Minute},
		{"Expires invalid", map[string]string{"Expires": "0"}, time.Minute},
	} {
		h := http.Header{}
		for k, v := range c.hdr {
			h.Set(k, v)
		}
		if got := cacheLifetime(h, now, def, MinCacheLifetime, MaxCacheLifetime); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestBackgroundRefresh: the jwk.Cache refreshes each JWKS on real time,
// when its clamped cache lifetime ends, with conditional GETs; failures are
// retried after MinRefetchInterval and keep the keys. Lifetimes are a few
// seconds here (httprc schedules in whole seconds), and the cases run in
// parallel.
func TestBackgroundRefresh(t *testing.T) {
	type setup struct {
		maxAge        time.Duration // of the IdP; <0: no Cache-Control
		lo, hi        time.Duration // the Verifier's lifetime clamp
		defaultRefres time.Duration
	}
	start := func(t *testing.T, s setup) (*fakeidp.IdP, *harness, string) {
		idp := fakeidp.New(t, fakeidp.WithMaxAge(s.maxAge))
		h := newHarnessClock(t, nil, Options{MinRefetchInterval: time.Second, DefaultRefresh: s.defaultRefres}, v2Issuer(idp))
		h.v.minLifetime, h.v.maxLifetime = s.lo, s.hi
		h.run()
		iss := idp.IssuerV2()
		eventually(t, "the first fetch", func() bool { return h.status(iss).Keys == 1 })
		return idp, h, iss
	}
	lifetime := func(h *harness, iss string) time.Duration {
		st := h.status(iss)
		return st.NextRefresh.Sub(st.LastSuccess)
	}

	t.Run("max-age decides, refreshes are conditional, rotation is picked up", func(t *testing.T) {
		t.Parallel()
		idp, h, iss := start(t, setup{maxAge: 2 * time.Second, lo: time.Second, hi: time.Hour})
		if got := lifetime(h, iss); got != 2*time.Second {
			t.Errorf("lifetime %v, want 2s", got)
		}
		never(t, "a refresh long before max-age", 900*time.Millisecond, func() bool { return idp.JWKSFetches() > 1 })
		eventually(t, "the refresh at max-age (304)", func() bool { return idp.NotModified() >= 1 })
		eventually(t, "the not_modified metric", func() bool {
			return h.metric("gatehouse_federation_jwks_fetch_total", map[string]string{"issuer": iss, "result": "not_modified"}) >= 1
		})
		idp.RotateKeys(true)
		eventually(t, "the rotated keys without any token", func() bool { return h.status(iss).Keys == 2 })
		// The metric is set just after the key set is installed.
		eventually(t, "the keys metric", func() bool {
			return h.metric("gatehouse_federation_jwks_keys", map[string]string{"issuer": iss}) == 2
		})
		h.mustVerify(idp.Token(idp.DefaultClaims(iss, "")))
		if d := idp.DiscoveryFetches(); d != 1 {
			t.Errorf("%d discovery fetches, want 1", d)
		}
	})
	t.Run("a long max-age is clamped down", func(t *testing.T) {
		t.Parallel()
		idp, h, iss := start(t, setup{maxAge: 24 * time.Hour, lo: time.Second, hi: 2 * time.Second})
		if got := lifetime(h, iss); got != 2*time.Second {
			t.Errorf("lifetime %v, want 2s", got)
		}
		eventually(t, "the refresh at the clamped lifetime", func() bool { return idp.JWKSFetches() >= 2 })
	})
	t.Run("no-cache is clamped up", func(t *testing.T) {
		t.Parallel()
		idp, h, iss := start(t, setup{maxAge: 0, lo: 3 * time.Second, hi: time.Hour})
		if got := lifetime(h, iss); got != 3*time.Second {
			t.Errorf("lifetime %v, want 3s", got)
		}
		never(t, "a refresh before the minimum lifetime", 2*time.Second, func() bool { return idp.JWKSFetches() > 1 })
		eventually(t, "the refresh", func() bool { return idp.JWKSFetches() >= 2 })
	})
	t.Run("no cache headers: DefaultRefresh", func(t *testing.T) {
		t.Parallel()
		idp, h, iss := start(t, setup{maxAge: -1, lo: time.Second, hi: time.Hour, defaultRefres: 2 * time.Second})
		if got := lifetime(h, iss); got != 2*time.Second {
			t.Errorf("lifetime %v, want 2s", got)
		}
		eventually(t, "the refresh", func() bool { return idp.JWKSFetches() >= 2 })
	})
	t.Run("failures are retried and keep the keys", func(t *testing.T) {
		t.Parallel()
		idp, h, iss := start(t, setup{maxAge: time.Second, lo: time.Second, hi: time.Hour})
		token := idp.Token(idp.DefaultClaims(iss, ""))
		idp.SetMode(fakeidp.ModeDown)
		eventuallyWithin(t, 10*time.Second, "two failed refreshes", func() bool { return h.status(iss).ConsecutiveFailures >= 2 })
		h.mustVerify(token)
		st := h.status(iss)
		if st.Keys != 1 || !strings.Contains(st.LastError, iss) || !strings.Contains(st.LastError, "503") {
			t.Errorf("status %+v", st)
		}
		if got := h.metric("gatehouse_federation_jwks_fetch_total", map[string]string{"issuer": iss, "result": "error"}); got < 2 {
			t.Errorf("error metric = %v", got)
		}
		if n := h.logs.count("level=WARN", "JWKS fetch failed"); n != 1 {
			t.Errorf("%d warnings for one failure streak, want 1", n)
		}
		idp.SetMode(fakeidp.ModeNormal)
		eventuallyWithin(t, 10*time.Second, "recovery", func() bool { return h.status(iss).ConsecutiveFailures == 0 })
		eventually(t, "the recovery log", func() bool { return h.logs.count("level=INFO", "succeeded again") >= 1 })
		if n := h.logs.count("level=INFO", "succeeded again"); n != 1 {
			t.Errorf("recovery logged %d times", n)
		}
		h.mustVerify(token)
	})
}

// TestOneRefreshChain: forced fetches (unknown kids) do not multiply the
// jwk.Cache's background refreshes: each registers the URL afresh, so one
// schedule remains per issuer.
func TestOneRefreshChain(t *testing.T) {
	idp := fakeidp.New(t, fakeidp.WithMaxAge(2*time.Second), fakeidp.WithoutETag())
	clock := newClock() // drives only the unknown-kid rate limit
	h := newHarnessClock(t, clock, Options{MinRefetchInterval: time.Second}, v1Issuer(idp))
	h.v.minLifetime = time.Second
	good := idp.Token(idp.DefaultClaims(idp.IssuerV1(), ""))
	h.mustVerify(good)
	for range 10 { // ten forced refetches
		clock.Advance(time.Second)
		_, _ = h.verify(withKid(good, randomKid()))
	}
	base := idp.JWKSFetches()
	time.Sleep(4 * time.Second) // about two lifetimes
	// One chain: about one fetch per 2 s; eleven chains would make 20+.
	if got := idp.JWKSFetches() - base; got < 1 || got > 4 {
		t.Errorf("%d background fetches in 4 s with max-age 2 s, want 1 to 4", got)
	}
}

// TestRunPicksUpNewIssuers: SetIssuers wakes Run, which fetches the new
// issuer's keys without waiting for a token; Run stops with its context.
func TestRunPicksUpNewIssuers(t *testing.T) {
	idp := fakeidp.New(t)
	h := newHarness(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.v.Run(ctx); close(done) }() // default one-minute look-ahead
	h.v.SetIssuers([]store.TrustedIssuer{v1Issuer(idp)})
	eventually(t, "the new issuer's keys", func() bool { return h.status(idp.IssuerV1()).Keys == 1 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}
