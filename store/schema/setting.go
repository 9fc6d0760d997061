package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// Setting is a named value the replicas share, such as the sealed key that
// client-secret and refresh-token hashes are keyed with: stored here (sealed
// under the master key) so that it survives a master-key rotation.
type Setting struct {
	ent.Schema
}

func (Setting) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().Unique().Immutable().MaxLen(128),
		field.Bytes("value").Sensitive(),
		field.Time("updated_at"),
	}
}
