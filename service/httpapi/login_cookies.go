package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/service/core"
)

// Cookie names. Over TLS (or behind a TLS-terminating proxy, when the
// issuer is https) the session and CSRF cookies take the __Host- prefix,
// which browsers accept only when Secure, Path=/ and without Domain, so a
// sibling subdomain cannot plant or overwrite them.
const (
	sessionCookie = "gatehouse_session"
	csrfCookie    = "gatehouse_csrf"
	hostPrefix    = "__Host-"
	// accessCookie is Apache Airflow's: its UI reads the access token from
	// the `_token` cookie, so it is not HttpOnly.
	accessCookie = "_token"
)

// secureCookies reports whether cookies get the Secure attribute.
func (h *handlers) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(h.core.Config().Issuer, "https://")
}

func (h *handlers) cookieName(r *http.Request, base string) string {
	if h.secureCookies(r) {
		return hostPrefix + base
	}
	return base
}

// sessionSecret is the session cookie's value ("" when there is none).
func (h *handlers) sessionSecret(r *http.Request) string {
	c, err := r.Cookie(h.cookieName(r, sessionCookie))
	if err != nil {
		return ""
	}
	return c.Value
}

func (h *handlers) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration, httpOnly bool) {
	c := &http.Cookie{
		Name: name, Value: value, Path: "/",
		HttpOnly: httpOnly, Secure: h.secureCookies(r), SameSite: http.SameSiteLaxMode,
	}
	switch {
	case maxAge < 0:
		c.MaxAge = -1 // Max-Age=0: delete
	case maxAge > 0:
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// setSessionCookie stores the session secret for the refresh absolute
// lifetime (the idle timeout is enforced by the server).
func (h *handlers) setSessionCookie(w http.ResponseWriter, r *http.Request, secret string) {
	h.setCookie(w, r, h.cookieName(r, sessionCookie), secret, h.core.Config().RefreshAbsoluteTTL, true)
}

// setAccessCookie sets `_token` for the access token's lifetime.
func (h *handlers) setAccessCookie(w http.ResponseWriter, r *http.Request, res core.TokenResponse) {
	h.setCookie(w, r, accessCookie, res.AccessToken, time.Duration(res.ExpiresIn)*time.Second, false)
}

// clearSessionCookies deletes the session and `_token` cookies.
func (h *handlers) clearSessionCookies(w http.ResponseWriter, r *http.Request) {
	h.setCookie(w, r, h.cookieName(r, sessionCookie), "", -1, true)
	h.setCookie(w, r, accessCookie, "", -1, false)
}
