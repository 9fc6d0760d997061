package gatehouse

import (
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Code classifies a refusal the way gatehouse does.
type Code int

const (
	// CodeUnauthenticated: no token, or not a valid one (expired, forged,
	// revoked, of a disabled account, ...).
	CodeUnauthenticated Code = iota + 1
	// CodePermissionDenied: a valid token without a required role or scope.
	CodePermissionDenied
	// CodeUnavailable: the Verifier cannot decide (no keys, revocation state
	// stale and no remote validation).
	CodeUnavailable
)

// Error is a refusal of Verify. Reason is safe to show the caller: it
// never contains the token.
type Error struct {
	Code   Code
	Reason string
	cause  error
}

func (e *Error) Error() string { return e.Reason }
func (e *Error) Unwrap() error { return e.cause }

// GRPCStatus makes status.Code and status.Convert see the right code.
func (e *Error) GRPCStatus() *status.Status {
	return status.New(e.grpcCode(), e.Reason)
}

func (e *Error) grpcCode() codes.Code {
	switch e.Code {
	case CodePermissionDenied:
		return codes.PermissionDenied
	case CodeUnavailable:
		return codes.Unavailable
	}
	return codes.Unauthenticated
}

// HTTPStatus is the status a refusal is answered with.
func (e *Error) HTTPStatus() int {
	switch e.Code {
	case CodePermissionDenied:
		return http.StatusForbidden
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusUnauthorized
}

func invalid(reason string, cause error) *Error {
	return &Error{Code: CodeUnauthenticated, Reason: reason, cause: cause}
}

// asError returns err as an *Error (unknown errors: unavailable).
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeUnavailable, Reason: "token validation is unavailable", cause: err}
}
