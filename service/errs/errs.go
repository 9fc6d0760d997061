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
	// Reason is a short, bounded label of why a token or login was refused
	// ("expired", "signature", ...), for metrics and audit events; never
	// shown to callers beyond what Message says.
	Reason string
	Err    error
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

// WithReason sets the refusal reason label and returns e.
func (e *Error) WithReason(reason string) *Error {
	e.Reason = reason
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

// Outage is implemented by causes that mean a dependency is down or
// overloaded, so that the same request may succeed later (the store's
// database errors do). Public reports an Internal error with such a cause as
// Unavailable.
type Outage interface {
	error
	// OutageMessage is the caller-safe description of the outage.
	OutageMessage() string
}

// OutageRetryAfter is the retry hint of an Unavailable answer caused by an
// Outage; BusyRetryAfter that of any other Unavailable without one.
const (
	OutageRetryAfter = 5 * time.Second
	BusyRetryAfter   = time.Second
)

// Public returns the *Error to answer err with. It is As, except that an
// Internal error caused by an Outage becomes Unavailable with the outage's
// message, and every Unavailable error carries a RetryAfter. The gRPC and
// HTTP mappings use it, so that an outage is UNAVAILABLE / 503 with
// Retry-After on every path, never INTERNAL / 500.
func Public(err error) *Error {
	e := As(err)
	switch e.Kind {
	case Internal:
		var o Outage
		if errors.As(err, &o) {
			return &Error{Kind: Unavailable, Message: o.OutageMessage(), OAuthCode: e.OAuthCode, RetryAfter: OutageRetryAfter, Err: err}
		}
	case Unavailable:
		if e.RetryAfter <= 0 {
			c := *e
			c.RetryAfter = BusyRetryAfter
			var o Outage
			if errors.As(err, &o) {
				c.RetryAfter = OutageRetryAfter
			}
			return &c
		}
	}
	return e
}

// IsOutage reports whether err is caused by a dependency's outage.
func IsOutage(err error) bool {
	var o Outage
	return errors.As(err, &o)
}
