package httpapi

// GET /oauth2/authorize: the authorization endpoint of the authorization
// code flow (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1.2). An invalid client
// or redirect URI is shown as an error page and never redirected to; every
// other error goes to the redirect URI with error, error_description, state
// and iss (RFC 9207).

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
)

// authorizeParams are the parameters read; each may be given once.
var authorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "prompt", "max_age", "request", "request_uri"}

func (h *handlers) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := core.AuthorizeRequest{
		ResponseType: q.Get("response_type"), ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"),
		Scope: q.Get("scope"), State: q.Get("state"), Nonce: q.Get("nonce"),
		CodeChallenge: q.Get("code_challenge"), CodeChallengeMethod: q.Get("code_challenge_method"),
		Prompt: q.Get("prompt"), MaxAge: q.Get("max_age"), Request: q.Get("request"), RequestURI: q.Get("request_uri"),
	}
	a, err := h.core.CheckAuthorization(r.Context(), req)
	if err == nil {
		for _, p := range authorizeParams {
			if len(q[p]) > 1 {
				err = errs.New(errs.InvalidArgument, "parameter %q is repeated", p).WithOAuth("invalid_request")
				break
			}
		}
	}
	if err != nil {
		if a.RedirectURI == "" {
			h.authorizeErrorPage(w, r, err)
			return
		}
		h.authorizeRedirectError(w, r, a, err)
		return
	}
	sess, ok := h.sessionFrom(r)
	bs := core.BrowserSession{ID: sess.SessionID, AccountID: sess.AccountID, AuthTime: sess.AuthTime}
	needLogin := !ok || a.Login || h.core.NeedsLogin(a, bs)
	if needLogin && a.None {
		h.authorizeRedirectError(w, r, a, errs.New(errs.Unauthenticated, "the user is not signed in").WithOAuth("login_required"))
		return
	}
	if needLogin {
		// The login page comes back here; prompt=login must not loop, so
		// it is dropped from the URL the login returns to.
		next := *r.URL
		nq := next.Query()
		nq.Del("prompt")
		if a.MaxAge >= 0 {
			nq.Del("max_age") // the login that follows satisfies it
		}
		next.RawQuery = nq.Encode()
		h.toLogin(w, r, next.RequestURI(), ok)
		return
	}
	code, err := h.core.IssueAuthorizationCode(r.Context(), a, bs)
	if err != nil {
		h.authorizeRedirectError(w, r, a, err)
		return
	}
	v := url.Values{"code": {code}}
	h.redirectToClient(w, a, v)
}

// redirectToClient sends the browser to a's redirect URI with the response
// parameters, state and iss.
func (h *handlers) redirectToClient(w http.ResponseWriter, a core.Authorization, v url.Values) {
	u, err := url.Parse(a.RedirectURI)
	if err != nil {
		http.Error(w, "invalid redirect URI", http.StatusBadRequest)
		return
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	if a.State != "" {
		q.Set("state", a.State)
	}
	q.Set("iss", h.core.Config().Issuer)
	u.RawQuery = q.Encode()
	noStore(w)
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusSeeOther)
}

// authorizeRedirectError sends an RFC 6749 §4.1.2.1 error to the client.
func (h *handlers) authorizeRedirectError(w http.ResponseWriter, r *http.Request, a core.Authorization, err error) {
	e := errs.Public(err)
	code, status := oauthErrorOf(e)
	desc := e.Message
	if status >= http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "authorization failed", "err", err)
		desc = "internal error"
	}
	if e.OAuthCode == "" && e.Kind == errs.InvalidArgument {
		code = "invalid_request"
	}
	h.redirectToClient(w, a, url.Values{"error": {code}, "error_description": {oauthDescription(desc)}})
}

var authorizeErrorTemplate = template.Must(template.New("authorize-error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in request refused</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Sign-in request refused</h1>
<p>The application that sent you here made an invalid request, so you were not sent back to it.</p>
<p><code>{{.Code}}</code>: {{.Description}}</p></main></body></html>
`))

// authorizeErrorPage shows an error that must not be redirected (unknown
// client, unregistered redirect URI).
func (h *handlers) authorizeErrorPage(w http.ResponseWriter, r *http.Request, err error) {
	e := errs.Public(err)
	code, status := oauthErrorOf(e)
	desc := e.Message
	if status >= http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "authorization failed", "err", err)
		desc = "internal error"
	} else {
		status = http.StatusBadRequest
	}
	noStore(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = authorizeErrorTemplate.Execute(w, struct{ Code, Description string }{code, desc})
}
