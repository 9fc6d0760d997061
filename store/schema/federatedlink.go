package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// FederatedLink binds a trusted issuer's stable subject to a local account.
// A federated token maps to a local account only through such a link: never
// afresh on mutable claims such as email or preferred_username.
type FederatedLink struct {
	ent.Schema
}

func (FederatedLink) Fields() []ent.Field {
	return []ent.Field{
		// The trusted issuer's id (not its iss string, which may be edited).
		field.String("issuer_id").NotEmpty().Immutable().MaxLen(64),
		// The issuer's stable subject: sub, or tid:oid for Entra ID.
		field.String("subject").NotEmpty().Immutable().MaxLen(512),
		field.String("account_id").NotEmpty().Immutable().MaxLen(64),
		// How the link was made: jit, verified_email, username, upn, admin,
		// migration.
		field.String("created_by").NotEmpty().Immutable().MaxLen(32),
		field.Time("created_at").Immutable(),
	}
}

func (FederatedLink) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("issuer_id", "subject").Unique(),
		index.Fields("account_id"),
	}
}
