package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Change is one entry of the change log that every replica tails to keep its
// in-memory view (account status, roles, keys) current without touching the
// database on the validation path. Rows are appended in the same transaction
// as the state change they describe.
type Change struct {
	ent.Schema
}

func (Change) Fields() []ent.Field {
	return []ent.Field{
		// The auto-increment id is the sequence number replicas tail by.
		field.String("kind").NotEmpty().Immutable().MaxLen(32),
		field.String("subject").Default("").Immutable().MaxLen(128),
		field.Time("created_at").Immutable().Default(time.Now),
	}
}

func (Change) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("created_at"),
	}
}
