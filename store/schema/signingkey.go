package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// SigningKey is a token signing key. The private key is stored sealed
// (AES-256-GCM) under the master key; the public half is kept as a JWK.
type SigningKey struct {
	ent.Schema
}

func (SigningKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("kid").NotEmpty().Unique().Immutable().MaxLen(128),
		field.String("alg").NotEmpty().Immutable().MaxLen(16),
		// What the key signs: "" access tokens (the configured algorithm),
		// "id_token" OIDC ID tokens (RS256, kept when access tokens use
		// another algorithm).
		field.String("purpose").Default("").Immutable().MaxLen(16),
		// next: published, not yet signing; active: signing; retired:
		// published until its tokens expire; revoked: withdrawn at once.
		field.Enum("state").Values("next", "active", "retired", "revoked"),
		field.Bytes("public_jwk").NotEmpty().Immutable(),
		field.Bytes("private_sealed").NotEmpty().Sensitive(),
		field.Time("created_at").Immutable().Default(time.Now),
		// When the key started (or starts) signing.
		field.Time("activated_at").Optional().Nillable(),
		// After this instant no token signed by the key is still valid.
		field.Time("retired_at").Optional().Nillable(),
	}
}
