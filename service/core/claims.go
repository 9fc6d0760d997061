package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/store"
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
	// UID is the account id when a claim profile puts something else in
	// `sub`; gatehouse's own validation and revocation go by it.
	UID string `json:"uid,omitempty"`

	// extra are a claim profile's claims, added when signing. Their names
	// never collide with the members above (checkProfileClaim).
	extra map[string]any
}

// accountID is the id of the account the token stands for.
func (c *accessClaims) accountID() string {
	if c.UID != "" {
		return c.UID
	}
	return c.Subject
}

// MarshalJSON adds the profile's claims to the members above.
func (c accessClaims) MarshalJSON() ([]byte, error) {
	type plain accessClaims // without this method
	b, err := json.Marshal(plain(c))
	if err != nil || len(c.extra) == 0 {
		return b, err
	}
	x, err := json.Marshal(c.extra)
	if err != nil {
		return nil, fmt.Errorf("marshal profile claims: %w", err)
	}
	// Both are JSON objects: join {...a} and {b...} into {...a,b...}.
	return append(append(b[:len(b)-1], ','), x[1:]...), nil
}

// profileFor returns the claim profile of a token's audiences. A token
// for several audiences may have one profile among them; two different
// ones are invalid_target, as no token can satisfy both.
func (s *Service) profileFor(aud audience) (store.ClaimProfile, bool, error) {
	var found store.ClaimProfile
	ok := false
	for _, a := range aud {
		p, has := s.view.ClaimProfile(a)
		switch {
		case !has:
		case !ok:
			found, ok = p, true
		default:
			return store.ClaimProfile{}, false, invalidTarget("audiences %q and %q have different claim profiles: request one of them", truncate(found.Audience), truncate(a))
		}
	}
	return found, ok, nil
}

// shape applies a claim profile to the claims of acct's token.
func shape(c *accessClaims, p store.ClaimProfile, acct store.Account) {
	name := acct.Username
	if acct.Kind == store.KindService {
		name = acct.ClientID
	}
	if p.Subject == ProfileSubjectUsername && name != "" {
		c.Subject, c.UID = name, acct.ID
	}
	visible := visibleRoles(acct.Roles, p.VisibleRoles)
	c.Roles = visible
	for _, pc := range p.Claims {
		var v any
		switch pc.Source {
		case SourceRole:
			if r := pickRole(visible, pc.RoleOrder); r != "" {
				v = r
			}
		case SourceRoles:
			if len(visible) > 0 {
				v = visible
			}
		case SourceEmail:
			v = nonEmpty(acct.Email)
		case SourceName:
			v = nonEmpty(acct.DisplayName)
		case SourceUsername:
			v = nonEmpty(name)
		case SourceConstant:
			v = pc.Value
		}
		if v == nil {
			continue // an empty value is left out, like gatehouse's own claims
		}
		if c.extra == nil {
			c.extra = make(map[string]any, len(p.Claims))
		}
		c.extra[pc.Name] = v
	}
}

// visibleRoles keeps the roles a profile shows (all when visible is
// empty), in the account's order. Names match case-insensitively.
func visibleRoles(roles, visible []string) []string {
	if len(visible) == 0 {
		return roles
	}
	var out []string
	for _, r := range roles {
		if slices.ContainsFunc(visible, func(v string) bool { return strings.EqualFold(v, r) }) {
			out = append(out, r)
		}
	}
	return out
}

// pickRole is the first of roles in order (names matched
// case-insensitively, spelled as the account has it), else the first of
// roles, else "".
func pickRole(roles, order []string) string {
	for _, o := range order {
		if i := slices.IndexFunc(roles, func(r string) bool { return strings.EqualFold(r, o) }); i >= 0 {
			return roles[i]
		}
	}
	if len(roles) > 0 {
		return roles[0]
	}
	return ""
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
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
