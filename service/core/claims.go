package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// accessClaims are the claims of a gatehouse access token (RFC 9068 §2.2,
// plus roles and the OIDC profile claims for users).
type accessClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          audience `json:"aud"`
	ExpiresAt         int64    `json:"exp"`
	NotBefore         int64    `json:"nbf"`
	IssuedAt          int64    `json:"iat"`
	ID                string   `json:"jti"`
	ClientID          string   `json:"client_id"`
	Scope             string   `json:"scope,omitempty"`
	Roles             []string `json:"roles,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Email             string   `json:"email,omitempty"`
	// SessionID is the login session (refresh-token family), as OIDC's sid.
	SessionID string `json:"sid,omitempty"`
	// IDP names the trusted issuer of an exchanged identity.
	IDP string `json:"idp,omitempty"`
	// IDPRoles are the roles mapped from the trusted issuer's groups at
	// exchange time; validation adds them to the account's current roles.
	IDPRoles []string `json:"idp_roles,omitempty"`
}

// audience is the JWT `aud` claim: one string or an array (RFC 7519 §4.1.3).
// It marshals a single value as a string, the form most clients expect.
type audience []string

func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

func (a *audience) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = l
	return nil
}

func (a audience) contains(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// validScopeToken checks RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// splitScope splits a space-delimited scope string.
func splitScope(scope string) []string {
	if scope == "" {
		return nil
	}
	return strings.Fields(scope)
}
