package core

import (
	"context"

	"github.com/gatehouse/gatehouse/service/errs"
)

// Observer is told what the core did: metrics, the audit trail and logs
// listen. Observe runs on the request path, ValidateToken's included, so it
// must not block or do I/O; an audit observer queues and writes in batches.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// Observers fans one event out to several observers.
type Observers []Observer

// Observe implements Observer.
func (os Observers) Observe(ctx context.Context, e Event) {
	for _, o := range os {
		o.Observe(ctx, e)
	}
}

type nopObserver struct{}

func (nopObserver) Observe(context.Context, Event) {}

// EventType names what happened.
type EventType string

// Event types the core reports.
const (
	// EventLoginSucceeded: a user's password or a client's secret was
	// right (password, client_credentials and token exchange grants,
	// introspection callers).
	EventLoginSucceeded EventType = "login.succeeded"
	// EventLoginFailed: credentials refused; Reason says why.
	EventLoginFailed EventType = "login.failed"
	// EventLockout: failed attempts reached a throttle's limit; Detail
	// "counter" says which (user, user and client IP, client IP, ...).
	EventLockout EventType = "login.lockout"
	// EventTokenIssued: an access token was issued under Grant.
	EventTokenIssued EventType = "token.issued"
	// EventTokenValidated: a token was checked; Reason is empty when it was
	// valid, else one of the Reason constants.
	EventTokenValidated EventType = "token.validated"
	// EventTokenExchanged: a trusted issuer's token was exchanged (RFC 8693).
	EventTokenExchanged EventType = "token.exchanged"
	// EventTokenRevoked: a refresh or offline token (and its session) was
	// revoked by its client (RFC 7009).
	EventTokenRevoked EventType = "token.revoked"
)

// Reasons a token or a login is refused: a bounded set, for metric labels.
const (
	ReasonExpired      = "expired"
	ReasonNotYetValid  = "not_yet_valid"
	ReasonSignature    = "signature"
	ReasonUnknownKey   = "unknown_key"
	ReasonRevoked      = "revoked"
	ReasonDisabled     = "disabled"
	ReasonDeleted      = "deleted"
	ReasonAudience     = "audience"
	ReasonIssuer       = "issuer"
	ReasonType         = "type"
	ReasonMalformed    = "malformed"
	ReasonOffline      = "offline_not_allowed"
	ReasonRequirements = "requirements"
	// Fallbacks by error kind, for refusals without a reason of their own
	// (a trusted issuer's token that fails its checks, for one).
	ReasonInvalid     = "invalid"
	ReasonUnavailable = "unavailable"
	ReasonOther       = "other"
	// Login refusals.
	ReasonBadCredentials = "bad_credentials"
	ReasonLockedOut      = "locked_out"
	ReasonBadRequest     = "bad_request"
)

// Account kinds of login events.
const (
	KindUser   = "user"
	KindClient = "client"
)

// Event is one thing the core did. Nothing in it is secret: names are as
// typed (truncated), never passwords, secrets or tokens.
type Event struct {
	Type EventType
	// Grant of EventTokenIssued ("password", "client_credentials", ...).
	Grant string
	// Reason a token or login was refused ("" when it was not).
	Reason string
	// Kind of the account of a login event: KindUser or KindClient.
	Kind string
	// Subject is the account id when known.
	Subject string
	// Name is the username or client id as the caller typed it.
	Name string
	// ClientID is the client a token was issued to, when there is one.
	ClientID string
	// IP is the caller's address (after trusted proxies), when known.
	IP string
	// Detail holds small extra facts (no secrets).
	Detail map[string]string
}

// reasonOf is the refusal label of err ("" for nil).
func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	e := errs.As(err)
	if e.Reason != "" {
		return e.Reason
	}
	switch e.Kind {
	case errs.InvalidArgument:
		return ReasonMalformed
	case errs.Unauthenticated, errs.PermissionDenied:
		return ReasonInvalid
	case errs.Unavailable:
		return ReasonUnavailable
	}
	if errs.IsOutage(err) {
		return ReasonUnavailable
	}
	return ReasonOther
}

// loginReason is the label of a refused login.
func loginReason(err error) string {
	e := errs.As(err)
	switch {
	case e.Reason != "":
		return e.Reason
	case e.Kind == errs.ResourceExhausted:
		return ReasonLockedOut
	case e.Kind == errs.InvalidArgument:
		return ReasonBadRequest
	case e.Kind == errs.Unavailable || errs.IsOutage(err):
		return ReasonUnavailable
	}
	return ReasonBadCredentials
}

// observeLogin reports the outcome of checking a user's or client's
// credentials.
func (s *Service) observeLogin(ctx context.Context, kind, name, ip, subject string, err error) {
	e := Event{Type: EventLoginSucceeded, Kind: kind, Name: truncate(name), IP: ip, Subject: subject}
	if err != nil {
		e.Type, e.Reason = EventLoginFailed, loginReason(err)
	}
	s.obs.Observe(ctx, e)
}
