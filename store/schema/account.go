package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Account is a principal that can hold a token: a human user or a service
// (machine) client. One table for both keeps the subject namespace, role
// assignment and the in-memory view uniform.
type Account struct {
	ent.Schema
}

func (Account) Fields() []ent.Field {
	return []ent.Field{
		// UUIDv7, so that ids sort by creation time and serve as page cursors.
		field.String("id").NotEmpty().Immutable().MaxLen(64),
		field.Enum("kind").Values("user", "service").Immutable(),
		// Users only; unique among all accounts.
		field.String("username").Optional().Nillable().MaxLen(128),
		// Service clients only.
		field.String("client_id").Optional().Nillable().MaxLen(128),
		// Stored lower-cased; unique so that lookup by email is unambiguous.
		field.String("email").Optional().Nillable().MaxLen(320),
		field.String("display_name").Default("").MaxLen(256),
		// argon2id PHC string; empty for users that cannot log in with a password.
		field.String("password_hash").Default("").Sensitive(),
		// Keyed SHA-256 of the client secret (secrets are random, not human-chosen).
		field.Bytes("secret_hash").Optional().Sensitive(),
		// Service clients only: the audiences a token may be issued for, the
		// first being the default. Empty means the server's default audience.
		field.Strings("audiences").Optional(),
		// Service clients only: OAuth 2.0 / OIDC client settings. Redirect
		// URIs are matched exactly (authorization code flow); a public
		// client has no secret and must use PKCE; grant_types empty means
		// every grant but authorization_code (clients made before OIDC);
		// a first-party client needs no consent.
		field.Strings("redirect_uris").Optional(),
		field.Strings("post_logout_redirect_uris").Optional(),
		field.Strings("grant_types").Optional(),
		field.Bool("public_client").Default(false),
		field.Bool("first_party").Default(false),
		// id_token_signed_response_alg; "" is RS256.
		field.String("id_token_alg").Default("").MaxLen(16),
		field.Bool("active").Default(true),
		field.Time("created_at").Immutable().Default(time.Now),
		field.Time("updated_at").Default(time.Now),
	}
}

func (Account) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("roles", Role.Type),
	}
}

func (Account) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("username").Unique(),
		index.Fields("client_id").Unique(),
		index.Fields("email").Unique(),
	}
}
