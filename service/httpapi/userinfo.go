package httpapi

// GET|POST /oauth2/userinfo (OIDC Core §5.3): the claims of the user an
// access token with scope openid stands for. The token comes as a Bearer
// header, or (POST) as access_token in a form body (RFC 6750 §2.2);
// errors are RFC 6750 §3 challenges.

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/service/errs"
)

func (h *handlers) userinfo(w http.ResponseWriter, r *http.Request) {
	token, err := h.userinfoToken(r)
	if err != nil {
		h.bearerError(w, r, http.StatusBadRequest, "invalid_request", errs.As(err).Message)
		return
	}
	if token == "" {
		// RFC 6750 §3.1: no credentials, no error code.
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		noStore(w)
		writeJSON(w, http.StatusUnauthorized, oauthErrorBody{Error: "invalid_token", Description: "an access token is required"})
		return
	}
	claims, err := h.core.UserInfo(r.Context(), token)
	if err != nil {
		e := errs.Public(err)
		switch e.Kind {
		case errs.PermissionDenied:
			h.bearerError(w, r, http.StatusForbidden, "insufficient_scope", e.Message)
		case errs.Unauthenticated, errs.InvalidArgument, errs.NotFound:
			h.bearerError(w, r, http.StatusUnauthorized, "invalid_token", e.Message)
		default:
			h.oauthError(w, r, err)
		}
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, claims)
}

// userinfoToken reads the bearer token of a userinfo request: the
// Authorization header, or access_token in a POST form body; never both,
// never the URL query.
func (h *handlers) userinfoToken(r *http.Request) (string, error) {
	if r.URL.Query().Has("access_token") {
		return "", invalidRequest("the access token must not be sent in the URL")
	}
	var header string
	if v := r.Header.Values("Authorization"); len(v) > 1 {
		return "", invalidRequest("more than one Authorization header")
	} else if len(v) == 1 {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v[0]), " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(rest) == "" {
			return "", invalidRequest("the Authorization header must be a Bearer token")
		}
		header = strings.TrimSpace(rest)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") == "" {
		return header, nil
	}
	form, err := parseOAuthForm(r)
	if err != nil {
		return "", err
	}
	if body := form["access_token"]; body != "" {
		if header != "" {
			return "", invalidRequest("the access token was sent twice")
		}
		return body, nil
	}
	return header, nil
}

// bearerError answers an RFC 6750 §3.1 error with its challenge.
func (h *handlers) bearerError(w http.ResponseWriter, r *http.Request, status int, code, desc string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="gatehouse", error="%s", error_description="%s"`, code, oauthDescription(desc)))
	noStore(w)
	writeJSON(w, status, oauthErrorBody{Error: code, Description: oauthDescription(desc)})
}
