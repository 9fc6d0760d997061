package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// AuditEvent is one entry of the append-only audit trail: an administrative
// change (written in the same transaction as the change) or a login event
// (written in batches). Rows are never updated, only pruned by age.
type AuditEvent struct {
	ent.Schema
}

func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.Time("time").Immutable().Default(time.Now),
		field.String("type").NotEmpty().Immutable().MaxLen(64),
		// The account id of who acted, "system" for gatehouse itself (key
		// schedule, CLI) or "anonymous" for an unauthenticated caller.
		field.String("actor").Immutable().MaxLen(64),
		field.String("actor_name").Default("").Immutable().MaxLen(320),
		// What was affected: account id, client id, issuer id, kid or
		// session id.
		field.String("target").Default("").Immutable().MaxLen(512),
		field.String("target_name").Default("").Immutable().MaxLen(512),
		field.String("ip").Default("").Immutable().MaxLen(64),
		field.String("request_id").Default("").Immutable().MaxLen(128),
		// Small facts as strings; never a secret.
		field.JSON("detail", map[string]string{}).Optional().Immutable(),
	}
}

func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("time"),
		index.Fields("type"),
		index.Fields("target"),
		index.Fields("actor"),
	}
}
