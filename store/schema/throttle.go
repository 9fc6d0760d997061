package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// Throttle counts failed authentication attempts for one key (an account,
// an (account, client IP) pair or a client IP) so that every replica sharing
// the database enforces the same lockout. A pair row also remembers until
// when the pair is trusted: a correct login from that IP makes the per-IP and
// per-account lockouts not apply to it (its own lockout still does).
type Throttle struct {
	ent.Schema
}

func (Throttle) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").NotEmpty().Unique().Immutable().MaxLen(300),
		field.Int("failures").Default(0),
		field.Time("window_start"),
		field.Time("locked_until").Optional().Nillable(),
		field.Time("trusted_until").Optional().Nillable(),
	}
}
