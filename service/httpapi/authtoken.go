package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
)

// authTokenRequest is the body of POST /auth/token, the endpoint Apache
// Airflow 3's simple auth manager and its clients use.
type authTokenRequest struct {
	GrantType    string `json:"grant_type"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Scope        string `json:"scope"`
}

// authToken answers 201 {"access_token": ...}; errors are FastAPI-style
// {"detail": "..."} as Airflow clients expect.
func (h *handlers) authToken(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAuthTokenRequest(r)
	if err != nil {
		var media *mediaError
		if errors.As(err, &media) {
			noStore(w)
			media.write(w, map[string]string{"detail": media.msg})
			return
		}
		h.authTokenError(w, err)
		return
	}
	if req.GrantType == "" {
		req.GrantType = core.GrantPassword
	}
	res, err := h.core.IssueToken(r.Context(), core.TokenRequest{
		GrantType:    req.GrantType,
		Username:     req.Username,
		Password:     req.Password,
		ClientID:     req.ClientID,
		ClientSecret: req.ClientSecret,
		Scope:        req.Scope,
		ClientIP:     h.clientIP(r),
	})
	if err != nil {
		h.authTokenError(w, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusCreated, map[string]string{"access_token": res.AccessToken})
}

func decodeAuthTokenRequest(r *http.Request) (authTokenRequest, error) {
	var req authTokenRequest
	if media := checkJSONBody(r, true); media != nil {
		// InvalidArgument for the core's error mapping; authToken answers
		// 415 for the *mediaError inside.
		return req, errs.Wrap(errs.InvalidArgument, media, "%s", media.msg)
	}
	raw, err := readJSONValue(r.Body)
	if errors.Is(err, io.EOF) {
		return req, errs.New(errs.InvalidArgument, "the body is empty: send a JSON object of username/password or client credentials")
	}
	if err != nil {
		return req, errs.New(errs.InvalidArgument, "%s", err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, errs.Wrap(errs.InvalidArgument, err, "%s", describeJSONFieldError(err))
	}
	return req, nil
}

// describeJSONFieldError names the field at fault in an encoding/json
// error without Go type names.
func describeJSONFieldError(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		return "field " + truncateField(typ.Field) + ": not a string"
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + truncateField(strings.TrimPrefix(msg, "json: unknown field "))
	}
	return "the body is not a valid JSON object of username/password or client credentials"
}

func (h *handlers) authTokenError(w http.ResponseWriter, err error) {
	e := errs.Public(err)
	code := statusFor(e.Kind)
	msg := e.Message
	switch {
	case code == http.StatusInternalServerError:
		h.log.Error("auth token", "err", err)
		msg = "internal error"
	case errs.IsOutage(err):
		h.log.Error("auth token: database unavailable; answering 503", "err", err)
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	}
	setRetryAfter(w, e.RetryAfter)
	noStore(w)
	writeJSON(w, code, map[string]string{"detail": msg})
}

// clientIP is the caller's address for the per-IP throttle; X-Forwarded-For
// counts only when the peer is a configured trusted proxy.
func (h *handlers) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return h.core.ClientIP(host, r.Header.Values("X-Forwarded-For"))
}
