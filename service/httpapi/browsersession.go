package httpapi

import (
	"net/http"
	"time"
)

// browserSession is a signed-in browser: the login page started it and the
// session cookie carries it (backed by the refresh-token session machinery,
// so revoking the session ends it).
type browserSession struct {
	AccountID string
	Username  string
	// SessionID is the session (refresh-token family) id: the `sid` of the
	// tokens issued in it.
	SessionID string
	// AuthTime is when the user last entered the password (`auth_time`).
	AuthTime time.Time
}

// sessionFrom returns the browser session of r's session cookie when it is
// present and still valid (one indexed database read; the use is recorded
// for the idle timeout at most once a minute).
func (h *handlers) sessionFrom(r *http.Request) (browserSession, bool) {
	secret := h.sessionSecret(r)
	if secret == "" {
		return browserSession{}, false
	}
	s, err := h.core.BrowserSession(r.Context(), secret)
	if err != nil {
		h.logSessionError(r, err)
		return browserSession{}, false
	}
	noteActor(r, s)
	return browserSession{AccountID: s.AccountID, Username: s.Username, SessionID: s.ID, AuthTime: s.AuthTime}, true
}

// toLogin sends the browser to the login page (303), which returns to next
// (a relative path, checked like every next) after a successful login;
// force asks for the password even when a session exists (OIDC
// prompt=login).
func (h *handlers) toLogin(w http.ResponseWriter, r *http.Request, next string, force bool) {
	seeOther(w, loginURL(safeNext(next, h.web.allowedOrigins), force))
}
