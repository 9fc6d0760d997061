package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"unicode/utf8"

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
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]string{"access_token": res.AccessToken})
}

func decodeAuthTokenRequest(r *http.Request) (authTokenRequest, error) {
	var req authTokenRequest
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return req, errs.New(errs.InvalidArgument, "the body must be JSON (Content-Type: application/json)")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return req, errs.New(errs.InvalidArgument, "the body is larger than %d bytes", tooLarge.Limit)
		}
		return req, errs.Wrap(errs.InvalidArgument, err, "the body could not be read")
	}
	if !utf8.Valid(body) {
		return req, errs.New(errs.InvalidArgument, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, errs.Wrap(errs.InvalidArgument, err, "the body is not a valid JSON object of username/password or client credentials")
	}
	if dec.More() {
		return req, errs.New(errs.InvalidArgument, "the body holds more than one JSON value")
	}
	return req, nil
}

func (h *handlers) authTokenError(w http.ResponseWriter, err error) {
	e := errs.As(err)
	code := statusFor(e.Kind)
	msg := e.Message
	if code == http.StatusInternalServerError {
		h.log.Error("auth token", "err", err)
		msg = "internal error"
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
	}
	setRetryAfter(w, e.RetryAfter)
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
