package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// TrustedIssuer is a company IdP (Entra ID, Keycloak, any OIDC issuer) whose
// tokens gatehouse accepts, with how to map its identities and groups.
type TrustedIssuer struct {
	ent.Schema
}

func (TrustedIssuer) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable().MaxLen(64),
		// Exact `iss` value.
		field.String("issuer").NotEmpty().Unique().MaxLen(512),
		// Explicit JWKS URL; empty: discovered from the issuer's
		// /.well-known/openid-configuration.
		field.String("jwks_uri").Default("").MaxLen(1024),
		field.Strings("audiences"),
		field.Strings("allowed_algs"),
		field.Int64("leeway_seconds").Default(60),
		field.Strings("required_claims"),
		// Claims tried in order to find the local account.
		field.Strings("identity_claims"),
		// Claims holding group or role names.
		field.Strings("group_claims"),
		// Group name → local roles.
		field.JSON("role_map", map[string][]string{}),
		// Create unknown users on first sight with the mapped roles.
		field.Bool("jit_provisioning").Default(false),
		// How a first link to an existing account may be made: none,
		// verified_email, username, upn. Empty: stored before links
		// existed; serve's upgrade step sets it once.
		field.String("link_by").Default("").MaxLen(32),
		// Service client ids allowed to exchange this issuer's tokens
		// (RFC 8693); empty: none.
		field.Strings("exchange_clients").Optional(),
		field.Time("created_at").Immutable(),
		field.Time("updated_at"),
	}
}
