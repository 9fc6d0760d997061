package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// ClaimProfile shapes the access tokens issued for one audience: which
// value `sub` carries, which extra claims are added and which roles show.
// The core validates every field; the limits here only bound the columns.
type ClaimProfile struct {
	ent.Schema
}

// ProfileClaim is one extra claim of a profile, stored as JSON.
type ProfileClaim struct {
	Name string `json:"name"`
	// Source is role, roles, email, name, username or constant.
	Source string `json:"source"`
	// Value is the constant's value.
	Value string `json:"value,omitempty"`
	// RoleOrder ranks roles for source role.
	RoleOrder []string `json:"role_order,omitempty"`
}

func (ClaimProfile) Fields() []ent.Field {
	return []ent.Field{
		field.String("audience").NotEmpty().Unique().Immutable().MaxLen(512),
		// id (the account id) or username (a service client's client id).
		field.String("subject").Default("id").MaxLen(16),
		field.JSON("claims", []ProfileClaim{}),
		// Empty: every role shows.
		field.Strings("visible_roles"),
		// The built-in profile it was made from ("" for none), for display.
		field.String("builtin").Default("").MaxLen(32),
		field.Time("created_at").Immutable(),
		field.Time("updated_at"),
	}
}
