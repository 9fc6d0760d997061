package gatehouse

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Middleware refuses requests without a valid bearer token meeting req
// (401 with WWW-Authenticate: Bearer error="invalid_token", 403 with
// error="insufficient_scope", 503 when validation is unavailable) and puts
// the Principal in the request's context.
func Middleware(v *Verifier, req Requirement) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := cutBearer(r.Header.Get("Authorization"))
			if !ok {
				// RFC 6750 §3.1: no error code when no credentials were sent.
				w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
				writeError(w, http.StatusUnauthorized, "a bearer token is required")
				return
			}
			p, err := v.Verify(r.Context(), token, req)
			if err != nil {
				e := asError(err)
				switch e.Code {
				case CodeUnauthenticated:
					w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="gatehouse", error="invalid_token", error_description=%q`, headerSafe(e.Reason)))
				case CodePermissionDenied:
					w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="gatehouse", error="insufficient_scope", error_description=%q`, headerSafe(e.Reason)))
				}
				writeError(w, e.HTTPStatus(), e.Reason)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), p)))
		})
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// headerSafe keeps a description within RFC 6750's allowed characters.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}
