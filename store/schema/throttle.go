package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// Throttle counts failed authentication attempts for one key ("user:alice",
// "ip:192.0.2.7", "client:etl") so that every replica sharing the database
// enforces the same lockout.
type Throttle struct {
	ent.Schema
}

func (Throttle) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").NotEmpty().Unique().Immutable().MaxLen(300),
		field.Int("failures").Default(0),
		field.Time("window_start"),
		field.Time("locked_until").Optional().Nillable(),
	}
}
