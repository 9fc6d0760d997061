package httpapi

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/service/secrets"
)

// CSRF protection of the sign-in forms has two layers:
//
//  1. Go's http.CrossOriginProtection refuses a cross-origin POST by the
//     browser's Sec-Fetch-Site (or Origin) header (webPages.crossOrigin);
//  2. every form carries a token that is an HMAC, under a key derived from
//     the server's token-hash key, of what the form is bound to: for the
//     login form a random pre-session cookie (a signed double-submit
//     cookie), for forms of a signed-in browser the session id. A forged
//     form, without the key, cannot carry it.
const (
	csrfField       = "csrf_token"
	csrfLoginPrefix = "login\x00"
	csrfSessPrefix  = "session\x00"
)

// sameOrigin runs Go's cross-origin check and answers 403 with a page when
// it fails.
func (h *handlers) sameOrigin(w http.ResponseWriter, r *http.Request) bool {
	if err := h.web.crossOrigin.Check(r); err != nil {
		h.log.InfoContext(r.Context(), "cross-origin form post refused", "path", r.URL.Path, "reason", err.Error())
		h.web.deny.ServeHTTP(w, r)
		return false
	}
	return true
}

// loginCSRF returns the login form's token, setting the pre-session cookie
// it is bound to when the browser has none.
func (h *handlers) loginCSRF(w http.ResponseWriter, r *http.Request) (string, error) {
	name := h.cookieName(r, csrfCookie)
	var binding string
	if c, err := r.Cookie(name); err == nil && validPreSession(c.Value) {
		binding = c.Value
	} else {
		v, err := secrets.RandomToken("")
		if err != nil {
			return "", err
		}
		binding = v
		h.setCookie(w, r, name, v, 0, true) // a browser-session cookie
	}
	return h.core.CSRFToken(csrfLoginPrefix + binding)
}

// checkLoginCSRF checks the login form's token against the pre-session
// cookie.
func (h *handlers) checkLoginCSRF(r *http.Request) bool {
	c, err := r.Cookie(h.cookieName(r, csrfCookie))
	return err == nil && validPreSession(c.Value) && h.core.CheckCSRFToken(csrfLoginPrefix+c.Value, r.PostForm.Get(csrfField))
}

// sessionCSRF is the token of forms of a signed-in browser (logout).
func (h *handlers) sessionCSRF(sessionID string) (string, error) {
	return h.core.CSRFToken(csrfSessPrefix + sessionID)
}

func (h *handlers) checkSessionCSRF(r *http.Request, sessionID string) bool {
	return h.core.CheckCSRFToken(csrfSessPrefix+sessionID, r.PostForm.Get(csrfField))
}

// validPreSession reports whether a pre-session cookie has the shape of a
// RandomToken (43 base64url characters).
func validPreSession(v string) bool {
	return len(v) == 43 && strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
}
