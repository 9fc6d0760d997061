package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/trustedissuer"
)

// ChangeIssuer is the change-log kind of trusted-issuer changes (subject: id).
const ChangeIssuer = "issuer"

// TrustedIssuer is a company IdP whose tokens are accepted.
type TrustedIssuer struct {
	ID              string
	Issuer          string
	JWKSURI         string // empty: discovered
	Audiences       []string
	AllowedAlgs     []string
	Leeway          time.Duration
	RequiredClaims  []string
	IdentityClaims  []string
	GroupClaims     []string
	RoleMap         map[string][]string
	JITProvisioning bool
	// LinkBy is how a first link to an existing account may be made:
	// "none", "verified_email", "username" or "upn"; "" only for issuers
	// stored before links existed (see the serve upgrade step).
	LinkBy string
	// ExchangeClients are the service client ids allowed to exchange this
	// issuer's tokens (RFC 8693).
	ExchangeClients []string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// CreateTrustedIssuer stores a new trusted issuer.
func (s *Store) CreateTrustedIssuer(ctx context.Context, ti TrustedIssuer) (TrustedIssuer, error) {
	now := s.clock()
	ti.CreatedAt, ti.UpdatedAt = now, now
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		c := tx.TrustedIssuer.Create().SetID(ti.ID).SetCreatedAt(now)
		setIssuerFields(c.Mutation(), ti)
		if err := c.Exec(ctx); err != nil {
			return fmt.Errorf("insert trusted issuer: %w", mapErr(err))
		}
		return s.appendChange(ctx, tx, ChangeIssuer, ti.ID)
	})
	return ti, err
}

// TrustedIssuers returns every trusted issuer, ordered by issuer.
func (s *Store) TrustedIssuers(ctx context.Context) ([]TrustedIssuer, error) {
	es, err := s.client.TrustedIssuer.Query().Order(ent.Asc(trustedissuer.FieldIssuer)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list trusted issuers: %w", mapErr(err))
	}
	out := make([]TrustedIssuer, len(es))
	for i, e := range es {
		out[i] = toTrustedIssuer(e)
	}
	return out, nil
}

// TrustedIssuer returns one trusted issuer by id or by issuer string.
func (s *Store) TrustedIssuer(ctx context.Context, idOrIssuer string) (TrustedIssuer, error) {
	e, err := s.client.TrustedIssuer.Query().
		Where(trustedissuer.Or(trustedissuer.ID(idOrIssuer), trustedissuer.Issuer(idOrIssuer))).
		Only(ctx)
	if err != nil {
		return TrustedIssuer{}, fmt.Errorf("get trusted issuer: %w", mapErr(err))
	}
	return toTrustedIssuer(e), nil
}

// UpdateTrustedIssuer applies fn to the issuer with the given id.
func (s *Store) UpdateTrustedIssuer(ctx context.Context, id string, fn func(*TrustedIssuer) error) (TrustedIssuer, error) {
	var out TrustedIssuer
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		e, err := tx.TrustedIssuer.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("get trusted issuer: %w", mapErr(err))
		}
		ti := toTrustedIssuer(e)
		if err := fn(&ti); err != nil {
			return err
		}
		ti.ID, ti.CreatedAt, ti.UpdatedAt = e.ID, e.CreatedAt.UTC(), s.clock()
		u := tx.TrustedIssuer.UpdateOneID(id)
		setIssuerFields(u.Mutation(), ti)
		if err := u.Exec(ctx); err != nil {
			return fmt.Errorf("update trusted issuer: %w", mapErr(err))
		}
		out = ti
		return s.appendChange(ctx, tx, ChangeIssuer, id)
	})
	return out, err
}

// DeleteTrustedIssuer removes a trusted issuer; its tokens stop validating
// once every replica has read the change log.
func (s *Store) DeleteTrustedIssuer(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *ent.Tx) error {
		if err := tx.TrustedIssuer.DeleteOneID(id).Exec(ctx); err != nil {
			return fmt.Errorf("delete trusted issuer: %w", mapErr(err))
		}
		if err := s.deleteIssuerLinks(ctx, tx, id); err != nil {
			return err
		}
		return s.appendChange(ctx, tx, ChangeIssuer, id)
	})
}

// setIssuerFields writes every mutable field; create and update share it.
func setIssuerFields(m *ent.TrustedIssuerMutation, ti TrustedIssuer) {
	m.SetIssuer(ti.Issuer)
	m.SetJwksURI(ti.JWKSURI)
	m.SetAudiences(nonNilStrings(ti.Audiences))
	m.SetAllowedAlgs(nonNilStrings(ti.AllowedAlgs))
	m.SetLeewaySeconds(int64(ti.Leeway / time.Second))
	m.SetRequiredClaims(nonNilStrings(ti.RequiredClaims))
	m.SetIdentityClaims(nonNilStrings(ti.IdentityClaims))
	m.SetGroupClaims(nonNilStrings(ti.GroupClaims))
	m.SetRoleMap(nonNilMap(ti.RoleMap))
	m.SetJitProvisioning(ti.JITProvisioning)
	m.SetLinkBy(ti.LinkBy)
	m.SetExchangeClients(nonNilStrings(ti.ExchangeClients))
	m.SetUpdatedAt(ti.UpdatedAt)
}

func toTrustedIssuer(e *ent.TrustedIssuer) TrustedIssuer {
	return TrustedIssuer{
		ID:              e.ID,
		Issuer:          e.Issuer,
		JWKSURI:         e.JwksURI,
		Audiences:       e.Audiences,
		AllowedAlgs:     e.AllowedAlgs,
		Leeway:          time.Duration(e.LeewaySeconds) * time.Second,
		RequiredClaims:  e.RequiredClaims,
		IdentityClaims:  e.IdentityClaims,
		GroupClaims:     e.GroupClaims,
		RoleMap:         e.RoleMap,
		JITProvisioning: e.JitProvisioning,
		LinkBy:          e.LinkBy,
		ExchangeClients: e.ExchangeClients,
		CreatedAt:       e.CreatedAt.UTC(),
		UpdatedAt:       e.UpdatedAt.UTC(),
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string][]string) map[string][]string {
	if m == nil {
		return map[string][]string{}
	}
	return m
}
