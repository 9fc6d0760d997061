package httpapi

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
)

// Browser sign-in: GET /auth/login shows the form (or, for a browser that
// is signed in already, sets a fresh `_token` and goes on to next), POST
// /auth/login checks the password through the same throttle as the
// password grant and starts a browser session (session cookie + `_token`),
// POST /auth/logout ends it, and GET / shows who is signed in.

// loginPage is GET /auth/login?next=...&prompt=login.
func (h *handlers) loginPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	next := safeNext(q.Get("next"), h.web.allowedOrigins)
	if q.Get("prompt") != "login" {
		if secret := h.sessionSecret(r); secret != "" {
			sess, res, err := h.core.BrowserAccessToken(r.Context(), secret, h.clientIP(r))
			if err == nil {
				noteActor(r, sess)
				h.setAccessCookie(w, r, res)
				seeOther(w, next)
				return
			}
			h.logSessionError(r, err)
		}
	}
	h.showLogin(w, r, http.StatusOK, pageData{Next: next})
}

// showLogin renders the form with a fresh CSRF token.
func (h *handlers) showLogin(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	tok, err := h.loginCSRF(w, r)
	if err != nil {
		h.log.ErrorContext(r.Context(), "login page: CSRF token", "err", err)
		h.showMessage(w, http.StatusInternalServerError, "Something went wrong on our side. Try again later.")
		return
	}
	d.Title, d.CSRF = "Sign in", tok
	if origin := h.authorizeReturnOrigin(r.Context(), d.Next); origin != "" {
		// form-action also governs the redirects that answer the form
		// post: sign-in → /oauth2/authorize → the client's redirect URI.
		w.Header().Set("Content-Security-Policy", h.web.cspWith(origin))
	}
	h.web.render(w, status, h.web.login, d)
}

// authorizeReturnOrigin is the origin of the registered redirect URI that
// an OpenID Connect authorization request in next returns to ("" when next
// is no such request, or its client or redirect URI is not registered).
func (h *handlers) authorizeReturnOrigin(ctx context.Context, next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Path != "/oauth2/authorize" || u.Host != "" {
		return ""
	}
	q := u.Query()
	a, _ := h.core.CheckAuthorization(ctx, core.AuthorizeRequest{
		ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), ResponseType: q.Get("response_type"),
	})
	if a.RedirectURI == "" {
		return ""
	}
	ru, err := url.Parse(a.RedirectURI)
	if err != nil || ru.Scheme == "" || ru.Host == "" {
		return ""
	}
	return ru.Scheme + "://" + ru.Host
}

func (h *handlers) showMessage(w http.ResponseWriter, status int, msg string) {
	title := "Sign-in problem"
	if status == http.StatusForbidden {
		title = "Request refused"
	}
	h.web.render(w, status, h.web.message, pageData{Title: title, Error: msg})
}

// loginSubmit is POST /auth/login.
func (h *handlers) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(w, r) || !h.parseForm(w, r) {
		return
	}
	next := safeNext(r.PostForm.Get("next"), h.web.allowedOrigins)
	username := r.PostForm.Get("username")
	if !h.checkLoginCSRF(r) {
		h.log.InfoContext(r.Context(), "login form without a valid CSRF token refused")
		h.showLogin(w, r, http.StatusForbidden, pageData{Next: next, Username: username,
			Error: "The sign-in form expired or did not come from this site. Please sign in again."})
		return
	}
	ip := h.clientIP(r)
	login, err := h.core.BrowserLogin(r.Context(), username, r.PostForm.Get("password"), ip)
	if err != nil {
		h.loginFailed(w, r, err, username, next)
		return
	}
	// A browser holds one session: signing in again (prompt=login, another
	// user) ends the one it had.
	if old := h.sessionSecret(r); old != "" {
		if err := h.core.EndBrowserSession(r.Context(), old, ip); err != nil {
			h.log.WarnContext(r.Context(), "could not end the previous browser session", "err", err)
		}
	}
	noteActor(r, login.Session)
	h.setSessionCookie(w, r, login.Secret)
	h.setAccessCookie(w, r, login.Access)
	seeOther(w, next)
}

// loginFailed shows the form again with what went wrong.
func (h *handlers) loginFailed(w http.ResponseWriter, r *http.Request, err error, username, next string) {
	e := errs.Public(err)
	d := pageData{Next: next, Username: username}
	status := statusFor(e.Kind)
	switch e.Kind {
	case errs.InvalidArgument:
		d.Error = "Enter your username and password."
	case errs.Unauthenticated:
		d.Error = "Invalid username or password."
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	case errs.PermissionDenied:
		d.Error = "This account is disabled."
	case errs.ResourceExhausted:
		secs := int64(e.RetryAfter.Seconds())
		d.Error = fmt.Sprintf("Too many failed sign-in attempts. Try again in %d seconds.", secs)
		setRetryAfter(w, e.RetryAfter)
	case errs.Unavailable:
		d.Error = "Sign-in is unavailable right now. Try again in a moment."
		setRetryAfter(w, e.RetryAfter)
	default:
		status = http.StatusInternalServerError
		d.Error = "Something went wrong on our side. Try again later."
	}
	if status >= http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "browser sign-in failed", "err", err)
	}
	h.showLogin(w, r, status, d)
}

// logout is POST /auth/logout: it ends the session (its refresh family,
// so its access tokens are refused too) and deletes both cookies.
func (h *handlers) logout(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(w, r) || !h.parseForm(w, r) {
		return
	}
	next := safeNext(r.PostForm.Get("next"), h.web.allowedOrigins)
	if secret := h.sessionSecret(r); secret != "" {
		sess, err := h.core.BrowserSession(r.Context(), secret)
		switch {
		case err == nil:
			if !h.checkSessionCSRF(r, sess.ID) {
				h.log.InfoContext(r.Context(), "logout without a valid CSRF token refused", "session", sess.ID)
				h.showMessage(w, http.StatusForbidden, "The sign-out form expired or did not come from this site, so you are still signed in. Reload the page and try again.")
				return
			}
			noteActor(r, sess)
			if err := h.core.EndBrowserSession(r.Context(), secret, h.clientIP(r)); err != nil {
				h.sessionUnavailable(w, r, err)
				return
			}
		case errs.KindOf(err) != errs.Unauthenticated:
			// The session may be live: do not pretend it ended.
			h.sessionUnavailable(w, r, err)
			return
		}
	}
	h.clearSessionCookies(w, r)
	seeOther(w, next)
}

// home is GET /: who is signed in, with a sign-out button; the login page
// for a browser without a session. A missing or invalid `_token` is
// replaced from the session.
func (h *handlers) home(w http.ResponseWriter, r *http.Request) {
	secret := h.sessionSecret(r)
	if secret == "" {
		seeOther(w, "/auth/login")
		return
	}
	var sess core.BrowserSession
	var err error
	if h.accessCookieValid(r) {
		sess, err = h.core.BrowserSession(r.Context(), secret)
	} else {
		var res core.TokenResponse
		if sess, res, err = h.core.BrowserAccessToken(r.Context(), secret, h.clientIP(r)); err == nil {
			h.setAccessCookie(w, r, res)
		}
	}
	if err != nil {
		h.logSessionError(r, err)
		seeOther(w, "/auth/login")
		return
	}
	noteActor(r, sess)
	tok, err := h.sessionCSRF(sess.ID)
	if err != nil {
		h.log.ErrorContext(r.Context(), "home page: CSRF token", "err", err)
		h.showMessage(w, http.StatusInternalServerError, "Something went wrong on our side. Try again later.")
		return
	}
	h.web.render(w, http.StatusOK, h.web.home, pageData{Title: "Signed in", Username: sess.Username, CSRF: tok})
}

// accessCookieValid reports whether `_token` holds a token ValidateToken
// accepts (in memory, no database read).
func (h *handlers) accessCookieValid(r *http.Request) bool {
	c, err := r.Cookie(accessCookie)
	if err != nil {
		return false
	}
	_, err = h.core.ValidateToken(r.Context(), c.Value, core.ValidateOptions{Audience: h.core.Config().Audience})
	return err == nil
}

func (h *handlers) sessionUnavailable(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "browser session check failed", "err", err)
	setRetryAfter(w, errs.Public(err).RetryAfter)
	h.showMessage(w, http.StatusServiceUnavailable, "Sign-out is unavailable right now. Try again in a moment.")
}

// logSessionError logs a session check that failed for another reason
// than an invalid or ended session.
func (h *handlers) logSessionError(r *http.Request, err error) {
	if errs.KindOf(err) != errs.Unauthenticated {
		h.log.WarnContext(r.Context(), "browser session check failed", "err", err)
	}
}

// parseForm reads an application/x-www-form-urlencoded body into
// r.PostForm, answering 415 or 400 with a page when it cannot.
func (h *handlers) parseForm(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		h.showMessage(w, http.StatusUnsupportedMediaType, "This form must be sent as application/x-www-form-urlencoded.")
		return false
	}
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		h.showMessage(w, status, "The form could not be read.")
		return false
	}
	return true
}

// noteActor names the signed-in user in the access log.
func noteActor(r *http.Request, s core.BrowserSession) {
	if ri := core.RequestInfoFrom(r.Context()); ri != nil {
		ri.Actor, ri.ActorName = s.AccountID, s.Username
	}
}

// seeOther answers 303 to a location checked by safeNext.
func seeOther(w http.ResponseWriter, location string) {
	noStore(w)
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}

// loginURL is the login page that returns to next.
func loginURL(next string, force bool) string {
	q := url.Values{}
	if next != "" && next != "/" {
		q.Set("next", next)
	}
	if force {
		q.Set("prompt", "login")
	}
	if len(q) == 0 {
		return "/auth/login"
	}
	return "/auth/login?" + q.Encode()
}
