package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// RefreshToken is one refresh or offline token. Only a keyed hash of the
// token is stored. Rotation marks the row used and inserts its successor in
// the same family (one family per login); presenting a used token again
// revokes the whole family, except for a retry within the reuse grace while
// the successor is unused (the successor is derived from the token, so it is
// found again by its hash: no successor is stored in plain text).
type RefreshToken struct {
	ent.Schema
}

func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable().MaxLen(64),
		field.Bytes("token_hash").NotEmpty().Immutable().Unique().Sensitive(),
		// The login session: every token rotated from the same login.
		field.String("family_id").NotEmpty().Immutable().MaxLen(64),
		field.String("account_id").NotEmpty().Immutable().MaxLen(64),
		field.String("client_id").Default("").Immutable().MaxLen(128),
		field.String("scope").Default("").Immutable().MaxLen(1024),
		// Offline tokens do not rotate and have no absolute lifetime.
		field.Bool("offline").Default(false).Immutable(),
		field.Time("created_at").Immutable(),
		// When the family began (the login), for the absolute lifetime.
		field.Time("family_created_at").Immutable(),
		field.Time("last_used_at"),
		// Absolute expiry; nil for offline tokens.
		field.Time("expires_at").Optional().Nillable().Immutable(),
		// Set when the token was exchanged for its successor.
		field.Time("rotated_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("family_id"),
		index.Fields("account_id"),
	}
}
