package httpapi

// GET|POST /oauth2/logout: the end_session_endpoint of OIDC RP-Initiated
// Logout 1.0. It ends the browser session of the request's cookie (the
// core revokes its refresh-token family, so the tokens issued in it stop
// working on every replica within a poll), clears the login cookies, and
// returns the browser to the client's registered post_logout_redirect_uri
// (exact match, with state) or shows a signed-out page. A request whose
// redirect cannot be trusted still signs out but is never redirected.

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
)

func (h *handlers) oidcLogout(w http.ResponseWriter, r *http.Request) {
	params, err := h.logoutParams(r)
	if err != nil {
		h.loggedOutPage(w, http.StatusBadRequest, errs.Public(err).Message)
		return
	}
	req := core.EndSessionRequest{
		IDTokenHint: params.Get("id_token_hint"), ClientID: params.Get("client_id"),
		PostLogoutRedirectURI: params.Get("post_logout_redirect_uri"), State: params.Get("state"),
	}
	redirect, _, checkErr := h.core.EndSession(r.Context(), req)
	if secret := h.sessionSecret(r); secret != "" {
		if err := h.core.EndBrowserSession(r.Context(), secret, h.clientIP(r)); err != nil {
			h.log.ErrorContext(r.Context(), "logout failed", "err", err)
			h.loggedOutPage(w, http.StatusServiceUnavailable, "signing out failed; try again")
			return
		}
	}
	h.clearSessionCookies(w, r)
	if checkErr != nil {
		h.loggedOutPage(w, http.StatusBadRequest, "You are signed out. The application's return address was refused: "+errs.Public(checkErr).Message)
		return
	}
	if redirect == "" {
		h.loggedOutPage(w, http.StatusOK, "You are signed out.")
		return
	}
	u, err := url.Parse(redirect)
	if err != nil {
		h.loggedOutPage(w, http.StatusOK, "You are signed out.")
		return
	}
	if req.State != "" {
		q := u.Query()
		q.Set("state", req.State)
		u.RawQuery = q.Encode()
	}
	noStore(w)
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusSeeOther)
}

// logoutParams reads the query (GET) or the form body (POST).
func (h *handlers) logoutParams(r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		return r.URL.Query(), nil
	}
	form, err := parseOAuthForm(r)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	for k, val := range form {
		v.Set(k, val)
	}
	return v, nil
}

var loggedOutTemplate = template.Must(template.New("logged-out").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signed out</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Signed out</h1><p>{{.}}</p></main></body></html>
`))

func (h *handlers) loggedOutPage(w http.ResponseWriter, status int, msg string) {
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = loggedOutTemplate.Execute(w, msg)
}
