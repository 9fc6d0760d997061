// Package errs is the one error type of gatehouse's core. Handlers translate
// it exactly once: to a gRPC status in service/grpcapi and to an HTTP/OAuth2
// answer in service/httpapi. Anything that is not an *Error is an internal
// error whose details are logged, never shown.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error by what the caller should do about it.
type Kind int

const (
	Internal          Kind = iota // a bug or an outage: retry later, details are logged only
	InvalidArgument               // malformed request: fix it
	Unauthenticated               // no, bad, expired or forged credentials or token
	PermissionDenied              // authenticated but not allowed (missing role, disabled account)
	NotFound                      // the named thing does not exist
	AlreadyExists                 // a unique name is taken
	ResourceExhausted             // rate limited; Error.RetryAfter says for how long
	Unavailable                   // a dependency is down
)

func (k Kind) String() string {
	switch k {
	case InvalidArgument:
		return "invalid_argument"
	case Unauthenticated:
		return "unauthenticated"
	case PermissionDenied:
		return "permission_denied"
	case NotFound:
		return "not_found"
	case AlreadyExists:
		return "already_exists"
	case ResourceExhausted:
		return "resource_exhausted"
	case Unavailable:
		return "unavailable"
	}
	return "internal"
}

// Error is an error meant for the caller: Message is safe to show. Err, when
// set, is the underlying cause for logs and errors.Is, never shown.
type Error struct {
	Kind    Kind
	Message string
	// OAuthCode is the RFC 6749 §5.2 error code where one applies
	// ("invalid_grant", "invalid_client", ...).
	OAuthCode string
	// RetryAfter, for ResourceExhausted, is how long the caller should wait.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error of kind with a message for the caller.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap is New with a cause that is logged but not shown.
func Wrap(kind Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Err: cause}
}

// WithOAuth sets the RFC 6749 error code and returns e.
func (e *Error) WithOAuth(code string) *Error {
	e.OAuthCode = code
	return e
}

// As returns the *Error in err's chain, or an Internal one wrapping err.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Internal, Message: "internal error", Err: err}
}

// KindOf returns the Kind of err (Internal for foreign errors).
func KindOf(err error) Kind { return As(err).Kind }
