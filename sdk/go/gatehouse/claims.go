package gatehouse

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// claims are the claims of a gatehouse access token (RFC 9068).
type claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	NotBefore int64    `json:"nbf"`
	IssuedAt  int64    `json:"iat"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
	Roles     []string `json:"roles"`
	Username  string   `json:"preferred_username"`
	Email     string   `json:"email"`
	SessionID string   `json:"sid"`
	// AccountID is `uid`, set when a claim profile made `sub` something
	// else than the account id (the username, for Apache Airflow).
	AccountID string `json:"uid"`
}

// accountID is the account the token stands for: `uid` when a claim
// profile moved it there, else `sub`. Revocation events name accounts by id.
func (c *claims) accountID() string {
	if c.AccountID != "" {
		return c.AccountID
	}
	return c.Subject
}

// audience is `aud`: one string or an array (RFC 7519 §4.1.3).
type audience []string

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

// check applies the registered claims' rules at now with leeway.
func (c *claims) check(issuer, aud string, now time.Time, leeway time.Duration) error {
	switch {
	case c.Issuer != issuer:
		return invalid("the token was issued by another issuer", nil)
	case c.Subject == "" || c.ExpiresAt == 0 || c.IssuedAt == 0:
		return invalid("the token lacks sub, exp or iat", nil)
	case aud != "" && !containsString(c.Audience, aud):
		return invalid("the token is not meant for this audience", nil)
	case now.Add(-leeway).After(time.Unix(c.ExpiresAt, 0)):
		return invalid("the token has expired", nil)
	case c.NotBefore != 0 && now.Add(leeway).Before(time.Unix(c.NotBefore, 0)):
		return invalid("the token is not valid yet", nil)
	case now.Add(leeway).Before(time.Unix(c.IssuedAt, 0)):
		return invalid("the token was issued in the future", nil)
	}
	return nil
}

func (c *claims) principal() Principal {
	p := Principal{
		Subject: c.Subject, AccountID: c.accountID(), Username: c.Username, ClientID: c.ClientID, Email: c.Email, Roles: slices.Clone(c.Roles),
		Audience: slices.Clone([]string(c.Audience)), IssuedAt: time.Unix(c.IssuedAt, 0), ExpiresAt: time.Unix(c.ExpiresAt, 0),
		SessionID: c.SessionID, TokenID: c.ID,
	}
	if c.Scope != "" {
		p.Scopes = strings.Fields(c.Scope)
	}
	return p
}

func containsString(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}
