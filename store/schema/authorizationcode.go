package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AuthorizationCode is an OAuth 2.0 authorization code (RFC 6749 §4.1).
// Only a keyed hash of the code is stored. It is single-use: redeeming sets
// used_at, and a second redemption revokes the sessions it issued tokens in
// (issued_family and session_id).
type AuthorizationCode struct {
	ent.Schema
}

func (AuthorizationCode) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable().MaxLen(64),
		field.Bytes("code_hash").NotEmpty().Immutable().Unique().Sensitive(),
		field.String("client_id").NotEmpty().Immutable().MaxLen(128),
		field.String("account_id").NotEmpty().Immutable().MaxLen(64),
		field.String("redirect_uri").NotEmpty().Immutable().MaxLen(2048),
		field.String("scope").Default("").Immutable().MaxLen(1024),
		field.String("nonce").Default("").Immutable().MaxLen(512),
		// S256 code challenge (RFC 7636); "" when the client sent none.
		field.String("code_challenge").Default("").Immutable().MaxLen(128),
		// The browser session (refresh-token family) the code was issued in.
		field.String("session_id").Default("").Immutable().MaxLen(64),
		field.Time("auth_time").Immutable(),
		field.Time("created_at").Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
		// The session the redemption issued tokens in (an offline token's
		// own family, or session_id).
		field.String("issued_family").Default("").MaxLen(64),
	}
}

func (AuthorizationCode) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("expires_at"),
	}
}
