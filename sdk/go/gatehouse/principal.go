package gatehouse

import (
	"context"
	"slices"
	"time"
)

// Principal is who a valid access token stands for.
type Principal struct {
	// Subject is the token's `sub`: the account id, unless a claim
	// profile on the audience made it the username.
	Subject string
	// AccountID is the account id whatever the profile (`uid` or `sub`).
	AccountID string
	// Username is set for users.
	Username string
	// ClientID is a service client's own id, or for a user the client the
	// token was issued to.
	ClientID string
	Email    string
	// Roles are the token's roles. Locally they are the roles at issue
	// time; in remote mode gatehouse answers with the current ones.
	Roles     []string
	Scopes    []string
	Audience  []string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// SessionID is the login session (`sid`); empty for client_credentials.
	SessionID string
	// TokenID is the token's `jti`.
	TokenID string
}

// HasRole reports whether p holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// HasScope reports whether p's token carries scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the Principal an interceptor or Middleware put in
// ctx, and false when there is none.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Requirement is what a call needs beyond a valid token: every one of
// Roles and every one of Scopes.
type Requirement struct {
	Roles  []string
	Scopes []string
}

func (r Requirement) check(p Principal) error {
	for _, role := range r.Roles {
		if !p.HasRole(role) {
			return &Error{Code: CodePermissionDenied, Reason: "missing role " + role}
		}
	}
	for _, s := range r.Scopes {
		if !p.HasScope(s) {
			return &Error{Code: CodePermissionDenied, Reason: "missing scope " + s}
		}
	}
	return nil
}
