package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// browserClient is a cookie-keeping HTTP client that does not follow
// redirects, like a browser as far as the sign-in pages care. Every
// request and answer is checked against the OpenAPI document.
type browserClient struct {
	t  testing.TB
	ts *testServer
	c  *http.Client
}

func newBrowserClient(t testing.TB, ts *testServer) *browserClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browserClient{t: t, ts: ts, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request; form, when not nil, is the urlencoded body.
func (b *browserClient) do(method, path string, form url.Values, header http.Header) httpResult {
	b.t.Helper()
	body := ""
	if form != nil {
		body = form.Encode()
	}
	req, err := http.NewRequest(method, b.ts.baseURL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	out := httpResult{status: res.StatusCode, header: res.Header, body: raw}
	b.ts.checkOpenAPI(b.t, req, body, out)
	return out
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf reads the form token of a page.
func csrfOf(t testing.TB, page httpResult) string {
	t.Helper()
	m := csrfField.FindSubmatch(page.body)
	if m == nil {
		t.Fatalf("no csrf_token in the page (%d): %s", page.status, page.body)
	}
	return string(m[1])
}

// login signs in through the form and returns the answer to the post.
func (b *browserClient) login(user, password, next string) httpResult {
	b.t.Helper()
	page := b.do("GET", "/auth/login?next="+url.QueryEscape(next), nil, nil)
	if page.status != http.StatusOK {
		b.t.Fatalf("GET /auth/login: %d %s", page.status, page.body)
	}
	return b.do("POST", "/auth/login", url.Values{
		"username": {user}, "password": {password}, "csrf_token": {csrfOf(b.t, page)}, "next": {next},
	}, nil)
}

// cookie returns the cookie the jar would send to the server ("" if none).
func (b *browserClient) cookie(name string) string {
	u, _ := url.Parse(b.ts.baseURL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func setCookie(res httpResult, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: res.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// validates reports whether ValidateToken accepts token.
func (ts *testServer) validates(token string) error {
	_, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: token})
	return err
}

// TestBrowserSessionHTTP drives the sign-in pages with a plain HTTP client
// on each backend: headers, CSRF, cookies, the session's lifetime under
// logout and every admin revocation.
func TestBrowserSessionHTTP(t *testing.T) {
	for _, be := range storetest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, be.DSN(t))
			ctx := ts.adminCtx(t)
			bob, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "bob", Password: "bob-password-123"})
			if err != nil {
				t.Fatal(err)
			}

			b := newBrowserClient(t, ts)
			page := b.do("GET", "/auth/login", nil, nil)
			for h, want := range map[string]string{
				"Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"Cache-Control":           "no-store",
				"Content-Type":            "text/html; charset=utf-8",
			} {
				if got := page.header.Get(h); got != want {
					t.Errorf("login page %s = %q, want %q", h, got, want)
				}
			}
			for _, s := range []string{`autocomplete="username"`, `autocomplete="current-password"`, `role="alert"`, `<label for="password">`} {
				if !strings.Contains(string(page.body), s) {
					t.Errorf("login page lacks %s", s)
				}
			}
			if css := b.do("GET", "/auth/static/login.css", nil, nil); css.status != http.StatusOK || css.header.Get("Content-Type") != "text/css; charset=utf-8" {
				t.Errorf("stylesheet: %d %q", css.status, css.header.Get("Content-Type"))
			}

			// A non-browser post (no Sec-Fetch-Site, no Origin) passes Go's
			// cross-origin check; the token is what refuses it.
			if r := b.do("POST", "/auth/login", url.Values{"username": {"bob"}, "password": {"bob-password-123"}}, nil); r.status != http.StatusForbidden {
				t.Errorf("login without a CSRF token: %d, want 403", r.status)
			}
			if r := b.do("POST", "/auth/login", url.Values{"username": {"bob"}, "password": {"bob-password-123"}, "csrf_token": {csrfOf(t, page)}},
				http.Header{"Sec-Fetch-Site": {"cross-site"}}); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "another site") {
				t.Errorf("cross-site login: %d %s, want 403 with a page", r.status, r.body)
			}

			res := b.login("bob", "bob-password-123", "/healthz")
			if res.status != http.StatusSeeOther || res.header.Get("Location") != "/healthz" {
				t.Fatalf("login: %d Location %q, want 303 to /healthz", res.status, res.header.Get("Location"))
			}
			sess, tok := setCookie(res, "gatehouse_session"), setCookie(res, "_token")
			if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || !strings.HasPrefix(sess.Value, "ghs_") {
				t.Fatalf("session cookie %+v", sess)
			}
			if tok == nil || tok.HttpOnly || tok.SameSite != http.SameSiteLaxMode || tok.Path != "/" || tok.MaxAge != 900 {
				t.Fatalf("_token cookie %+v", tok)
			}
			if err := ts.validates(tok.Value); err != nil {
				t.Fatalf("_token does not validate: %v", err)
			}

			// GET / shows the user; without _token it issues a fresh one.
			anon := newBrowserClient(t, ts)
			home := anon.do("GET", "/", nil, http.Header{"Cookie": {"gatehouse_session=" + sess.Value}})
			if home.status != http.StatusOK || !strings.Contains(string(home.body), "bob") {
				t.Fatalf("home: %d %s", home.status, home.body)
			}
			if fresh := setCookie(home, "_token"); fresh == nil || ts.validates(fresh.Value) != nil {
				t.Errorf("home without _token set no valid fresh one: %+v", fresh)
			}
			// A signed-in browser at the login page goes on to next at once.
			if r := b.do("GET", "/auth/login?next=%2F%2Fevil.example", nil, nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" || setCookie(r, "_token") == nil {
				t.Errorf("signed-in login page: %d %q", r.status, r.header.Get("Location"))
			}
			if r := b.do("GET", "/auth/login?prompt=login", nil, nil); r.status != http.StatusOK {
				t.Errorf("prompt=login: %d, want the form", r.status)
			}

			// Logout needs the session's token.
			if r := b.do("POST", "/auth/logout", url.Values{"csrf_token": {csrfOf(t, page)}}, nil); r.status != http.StatusForbidden {
				t.Errorf("logout with the login form's token: %d, want 403", r.status)
			}
			out := b.do("POST", "/auth/logout", url.Values{"csrf_token": {csrfOf(t, home)}, "next": {"//evil.example"}}, nil)
			if out.status != http.StatusSeeOther || out.header.Get("Location") != "/" {
				t.Fatalf("logout: %d %q", out.status, out.header.Get("Location"))
			}
			for _, name := range []string{"gatehouse_session", "_token"} {
				if c := setCookie(out, name); c == nil || c.MaxAge >= 0 {
					t.Errorf("logout did not delete %s: %+v", name, c)
				}
			}
			if err := ts.validates(tok.Value); err == nil {
				t.Error("the _token of a logged-out session still validates")
			}
			if r := anon.do("GET", "/", nil, http.Header{"Cookie": {"gatehouse_session=" + sess.Value}}); r.status != http.StatusSeeOther {
				t.Errorf("home after logout: %d, want 303 to the login page", r.status)
			}

			// Admin revocations end browser sessions.
			for _, c := range []struct {
				name   string
				revoke func(sessionID string)
			}{
				{"RevokeSession", func(id string) {
					if _, err := ts.admin.RevokeSession(ctx, &gatehousev1.RevokeSessionRequest{Id: id}); err != nil {
						t.Fatal(err)
					}
				}},
				{"RevokeAllSessions", func(string) {
					if _, err := ts.admin.RevokeAllSessions(ctx, &gatehousev1.RevokeAllSessionsRequest{Id: bob.Id}); err != nil {
						t.Fatal(err)
					}
				}},
				{"DisableUser", func(string) {
					if _, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: bob.Id}); err != nil {
						t.Fatal(err)
					}
				}},
			} {
				ts.clock.Advance(time.Second) // revoke-all covers tokens issued up to its second
				b := newBrowserClient(t, ts)
				if r := b.login("bob", "bob-password-123", "/"); r.status != http.StatusSeeOther {
					t.Fatalf("%s: login %d %s", c.name, r.status, r.body)
				}
				list, err := ts.admin.ListSessions(ctx, &gatehousev1.ListSessionsRequest{Id: bob.Id})
				if err != nil || len(list.Sessions) != 1 {
					t.Fatalf("%s: sessions %v %v, want one", c.name, list, err)
				}
				c.revoke(list.Sessions[0].Id)
				if r := b.do("GET", "/", nil, nil); r.status != http.StatusSeeOther {
					t.Errorf("%s: home %d, want 303 to the login page", c.name, r.status)
				}
				if err := ts.validates(b.cookie("_token")); err == nil {
					t.Errorf("%s: the session's _token still validates", c.name)
				}
			}
		})
	}
}

// TestSafeNextOnLoginPost: the form's next is checked when posted too.
func TestSafeNextOnLoginPost(t *testing.T) {
	ts := startServer(t, "")
	for _, next := range []string{"//evil.example", `/\evil.example`, "javascript:alert(1)", "%2F%2Fevil.example", "http://evil.example", "/%09/evil.example", `\\evil.example`, "/dags?x=1"} {
		b := newBrowserClient(t, ts)
		r := b.login("admin", ts.adminPW, next)
		want := "/"
		if next == "/dags?x=1" {
			want = next
		}
		if r.status != http.StatusSeeOther || r.header.Get("Location") != want {
			t.Errorf("next %q: %d Location %q, want %q", next, r.status, r.header.Get("Location"), want)
		}
	}
}

// loginErrorText extracts the alert region's text.
func loginErrorText(body []byte) string {
	m := regexp.MustCompile(`role="alert">([^<]*)<`).FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

func TestLoginFailuresHTTP(t *testing.T) {
	ts := startServer(t, "", func(c *server.Config) { c.Core.UserThrottle.MaxFailures = 3 })
	b := newBrowserClient(t, ts)
	for i := range 3 {
		r := b.login("admin", "wrong-password", "/")
		if r.status != http.StatusUnauthorized || loginErrorText(r.body) != "Invalid username or password." {
			t.Fatalf("attempt %d: %d %q", i, r.status, loginErrorText(r.body))
		}
	}
	r := b.login("admin", "wrong-password", "/")
	msg := loginErrorText(r.body)
	var secs int
	if _, err := fmt.Sscanf(msg, "Too many failed sign-in attempts. Try again in %d seconds.", &secs); err != nil || r.status != http.StatusTooManyRequests || secs < 1 || secs > 900 {
		t.Fatalf("lockout: %d %q (%v)", r.status, msg, err)
	}
	if r.header.Get("Retry-After") != fmt.Sprint(secs) {
		t.Errorf("Retry-After %q, message says %d s", r.header.Get("Retry-After"), secs)
	}
	// The same throttle as the password grant.
	if _, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW}); err == nil {
		t.Error("the password grant is not locked out by failed browser sign-ins")
	}
	if r := b.do("POST", "/auth/login", url.Values{"csrf_token": {"x"}}, http.Header{"Content-Type": {"text/plain"}}); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain login: %d, want 415", r.status)
	}
}

// findChromium returns a Chromium or Chrome binary, or "" when there is
// none (GATEHOUSE_CHROMIUM names one explicitly).
func findChromium() string {
	if p := os.Getenv("GATEHOUSE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newChromium starts a headless Chromium for t, bounded to two minutes in
// all; each tab of newTab is an isolated browser context (its own cookies).
func newChromium(t *testing.T) context.Context {
	t.Helper()
	path := findChromium()
	if path == "" {
		t.Skip("no chromium binary found (Debian: apt-get install chromium; CI installs it in .ci/tools.sh; or set GATEHOUSE_CHROMIUM)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(720, 620),
	)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	return browser
}

func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	return ctx
}

// must fails the test on a browser error.
func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// signIn fills in the login form of the page the tab shows and submits it,
// returning the response of the page it lands on.
func signIn(t *testing.T, tab context.Context, user, password string) *network.Response {
	t.Helper()
	if err := chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
	); err != nil {
		t.Fatalf("fill in the form: %v", err)
	}
	return must[*network.Response](t, "submit the form")(chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`button[type="submit"]`))))
}

func location(t *testing.T, tab context.Context) string {
	t.Helper()
	return must[string](t, "location")(chromedp.Run(tab, chromedp.Location()))
}

func alertText(t *testing.T, tab context.Context) string {
	t.Helper()
	return must[string](t, "alert text")(chromedp.Run(tab, chromedp.TextContent(chromedp.CSS(`[role="alert"]`))))
}

func browserCookies(t *testing.T, tab context.Context, url string) map[string]*network.Cookie {
	t.Helper()
	list := must[[]*network.Cookie](t, "cookies")(chromedp.Run(tab, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
		return res.Cookies, err
	}))
	out := map[string]*network.Cookie{}
	for _, c := range list {
		out[c.Name] = c
	}
	return out
}

// htmlServer serves one fixed page on 127.0.0.1 for the test.
func htmlServer(t *testing.T, page string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestBrowserSignIn drives the sign-in pages with a real headless Chromium:
// the cookies and their attributes, error and lockout messages, open
// redirects, cross-site form posts, logout. With
// GATEHOUSE_UPDATE_SCREENSHOT=1 it also writes docs/login-page.png.
func TestBrowserSignIn(t *testing.T) {
	browser := newChromium(t)
	app := htmlServer(t, `<!doctype html><title>app</title><h1 id="app">the application</h1>`)
	ts := startServer(t, "", func(c *server.Config) {
		c.Core.UserThrottle.MaxFailures = 3
		if err := c.HTTP.AllowedRedirectOrigins.Set(app.URL); err != nil {
			t.Fatal(err)
		}
	})
	ctx := ts.adminCtx(t)
	for _, u := range []string{"carol", "dave"} {
		if _, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: u, Password: u + "-password-123"}); err != nil {
			t.Fatal(err)
		}
	}
	base := ts.baseURL

	if os.Getenv("GATEHOUSE_UPDATE_SCREENSHOT") == "1" {
		tab := newTab(t, browser)
		must[chromedp.Void](t, "open the login page")(chromedp.Run(tab, chromedp.Navigate(base+"/auth/login")))
		png := must[[]byte](t, "screenshot")(chromedp.Run(tab, chromedp.FullScreenshot(100)))
		if len(png) > 200<<10 {
			t.Fatalf("screenshot is %d bytes, want < 200 KiB", len(png))
		}
		if err := os.WriteFile("../../docs/login-page.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("login", func(t *testing.T) {
		tab := newTab(t, browser)
		must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/auth/login?next="+url.QueryEscape("/healthz?from=login"))))
		res := signIn(t, tab, "admin", ts.adminPW)
		if got := location(t, tab); got != base+"/healthz?from=login" || res.Status != http.StatusOK {
			t.Fatalf("landed on %s (%d), want next", got, res.Status)
		}
		cookies := browserCookies(t, tab, base+"/")
		tok, sess := cookies["_token"], cookies["gatehouse_session"]
		if tok == nil || tok.HTTPOnly || tok.SameSite != network.CookieSameSiteLax || tok.Path != "/" || tok.Secure {
			t.Fatalf("_token cookie %+v", tok)
		}
		if left := time.Until(time.Unix(int64(tok.Expires), 0)); left < 14*time.Minute || left > 16*time.Minute {
			t.Errorf("_token expires in %s, want the token's 15 min", left)
		}
		if err := ts.validates(tok.Value); err != nil {
			t.Errorf("ValidateToken(_token): %v", err)
		}
		if sess == nil || !sess.HTTPOnly || sess.SameSite != network.CookieSameSiteLax || sess.Path != "/" {
			t.Fatalf("session cookie %+v", sess)
		}
		// Script on the page can read _token (the Airflow UI does), not the session.
		js := must[string](t, "document.cookie")(chromedp.Run(tab, chromedp.Evaluate[string]("document.cookie")))
		if !strings.Contains(js, "_token=") || strings.Contains(js, "gatehouse_session") {
			t.Errorf("document.cookie = %q, want _token only", js)
		}
		// An allowed origin is followed, past the page's form-action.
		must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/auth/login?prompt=login&next="+url.QueryEscape(app.URL+"/landing"))))
		signIn(t, tab, "admin", ts.adminPW)
		if got := location(t, tab); got != app.URL+"/landing" {
			t.Errorf("allowed origin: landed on %s", got)
		}
	})

	// OpenID Connect in the browser: authorize → sign-in form → back to the
	// client's registered redirect URI on another origin. The page's CSP
	// (form-action) admits that origin for this sign-in only.
	t.Run("authorization code flow", func(t *testing.T) {
		rp := htmlServer(t, `<!doctype html><title>rp</title><h1 id="rp">relying party</h1>`)
		cr, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: "browser-rp"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.admin.SetClientOAuthSettings(ctx, &gatehousev1.SetClientOAuthSettingsRequest{
			Id: cr.GetClient().GetId(),
			Settings: &gatehousev1.ClientOAuthSettings{
				RedirectUris: []string{rp.URL + "/cb"}, GrantTypes: []string{"authorization_code"}, Public: true, FirstParty: true,
			},
		}); err != nil {
			t.Fatal(err)
		}
		verifier := oauth2.GenerateVerifier()
		q := url.Values{"response_type": {"code"}, "client_id": {"browser-rp"}, "redirect_uri": {rp.URL + "/cb"},
			"scope": {"openid"}, "state": {"st-1"}, "nonce": {"n-1"},
			"code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
		tab := newTab(t, browser)
		must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/oauth2/authorize?"+q.Encode())))
		signIn(t, tab, "dave", "dave-password-123")
		got, err := url.Parse(location(t, tab))
		if err != nil || got.Scheme+"://"+got.Host+got.Path != rp.URL+"/cb" || got.Query().Get("code") == "" || got.Query().Get("state") != "st-1" {
			t.Fatalf("landed on %s, want the redirect URI with a code and the state", got)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		tab := newTab(t, browser)
		must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/auth/login")))
		res := signIn(t, tab, "dave", "not-the-password")
		if msg := alertText(t, tab); msg != "Invalid username or password." || res.Status != http.StatusUnauthorized {
			t.Errorf("alert %q (%d)", msg, res.Status)
		}
		if _, ok := browserCookies(t, tab, base+"/")["_token"]; ok {
			t.Error("a failed sign-in set _token")
		}
	})

	t.Run("lockout", func(t *testing.T) {
		tab := newTab(t, browser)
		for range 3 {
			must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/auth/login")))
			signIn(t, tab, "carol", "not-the-password")
		}
		must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/auth/login")))
		res := signIn(t, tab, "carol", "carol-password-123")
		msg := alertText(t, tab)
		var secs int
		if _, err := fmt.Sscanf(msg, "Too many failed sign-in attempts. Try again in %d seconds.", &secs); err != nil || secs < 1 || secs > 900 || res.Status != http.StatusTooManyRequests {
			t.Errorf("alert %q (%d), want the lockout with its wait", msg, res.Status)
		}
	})

	t.Run("open redirects land on /", func(t *testing.T) {
		tab := newTab(t, browser)
		must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/auth/login?next="+url.QueryEscape("//evil.example/"))))
		signIn(t, tab, "admin", ts.adminPW)
		if got := location(t, tab); got != base+"/" {
			t.Fatalf("//evil.example: landed on %s", got)
		}
		for _, next := range []string{"//evil.example", `/\evil.example`, "javascript:alert(1)", "%2F%2Fevil.example", "http://evil.example", "/%09/evil.example", `\\evil.example`, "/%2F/evil.example", "https://evil.example@" + strings.TrimPrefix(base, "http://")} {
			// Signed in: the login page sends the browser on at once.
			must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/auth/login?next="+url.QueryEscape(next))))
			if got := location(t, tab); got != base+"/" {
				t.Errorf("next %q: landed on %s, want /", next, got)
			}
		}
		if who := must[string](t, "home")(chromedp.Run(tab, chromedp.TextContent(chromedp.CSS("#signed-in-user")))); who != "admin" {
			t.Errorf("home page names %q", who)
		}
	})

	t.Run("cross-site posts are refused", func(t *testing.T) {
		tab := newTab(t, browser)
		must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/auth/login")))
		signIn(t, tab, "admin", ts.adminPW)
		attacker := htmlServer(t, `<!doctype html><body onload="document.forms[0].submit()">
<form method="post" action="`+base+`/auth/logout"><input name="next" value="/"></form>`)
		loginCSRF := htmlServer(t, `<!doctype html><body onload="document.forms[0].submit()">
<form method="post" action="`+base+`/auth/login"><input name="username" value="dave"><input name="password" value="dave-password-123"></form>`)
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(attacker.URL, "http://"))
		_, loginPort, _ := net.SplitHostPort(strings.TrimPrefix(loginCSRF.URL, "http://"))
		for _, c := range []struct{ name, url string }{
			{"cross-site logout", "http://localhost:" + port + "/"},             // another site
			{"same-site cross-origin logout", "http://127.0.0.1:" + port + "/"}, // cookies go along
			{"cross-site login", "http://localhost:" + loginPort + "/"},
		} {
			res := must[network.EventResponseReceived](t, c.name)(chromedp.Run(tab, chromedp.WaitEvent(network.ResponseReceived,
				func(e network.EventResponseReceived) bool { return strings.HasPrefix(e.Response.URL, base+"/auth/") },
				chromedp.Navigate(c.url))))
			if res.Response.Status != http.StatusForbidden {
				t.Errorf("%s: answered %d, want 403", c.name, res.Response.Status)
			}
			if msg := alertText(t, tab); !strings.Contains(msg, "another site") {
				t.Errorf("%s: page says %q", c.name, msg)
			}
		}
		must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/")))
		if who := must[string](t, "home")(chromedp.Run(tab, chromedp.TextContent(chromedp.CSS("#signed-in-user")))); who != "admin" {
			t.Errorf("after the forged posts the browser is signed in as %q, want admin still", who)
		}
	})

	t.Run("logout", func(t *testing.T) {
		tab := newTab(t, browser)
		must[chromedp.Void](t, "open")(chromedp.Run(tab, chromedp.Navigate(base+"/auth/login")))
		signIn(t, tab, "admin", ts.adminPW)
		old := browserCookies(t, tab, base+"/")["_token"]
		if old == nil {
			t.Fatal("no _token after sign-in")
		}
		must[*network.Response](t, "sign out")(chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`button[type="submit"]`))))
		if got := location(t, tab); got != base+"/auth/login" {
			t.Errorf("after logout: %s, want the login page", got)
		}
		cookies := browserCookies(t, tab, base+"/")
		for _, name := range []string{"_token", "gatehouse_session"} {
			if c, ok := cookies[name]; ok {
				t.Errorf("cookie %s survived logout: %+v", name, c)
			}
		}
		if err := ts.validates(old.Value); status.Code(err) != codes.Unauthenticated {
			t.Errorf("ValidateToken(old _token) after logout: %v, want UNAUTHENTICATED", err)
		}
	})
}
