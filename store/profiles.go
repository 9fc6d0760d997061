package store

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/claimprofile"
	"github.com/gatehouse/gatehouse/store/schema"
)

// ChangeProfile is the change-log kind of claim-profile changes (subject:
// the audience).
const ChangeProfile = "claim_profile"

// Audit event types of claim profiles.
const (
	AuditClaimProfileSet     = "claim_profile.set"
	AuditClaimProfileDeleted = "claim_profile.deleted"
)

// ProfileClaim is one extra claim of a claim profile.
type ProfileClaim = schema.ProfileClaim

// ClaimProfile shapes the access tokens of one audience. The core
// validates it; the store keeps what it is given.
type ClaimProfile struct {
	Audience     string
	Subject      string // "id" or "username"
	Claims       []ProfileClaim
	VisibleRoles []string // empty: all
	Builtin      string   // the built-in profile it was made from, or ""
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// PutClaimProfile creates the profile of p.Audience or replaces every field
// of the existing one. created tells which happened.
func (s *Store) PutClaimProfile(ctx context.Context, p ClaimProfile) (out ClaimProfile, created bool, err error) {
	now := s.clock()
	err = s.inTx(ctx, func(tx *ent.Tx) error {
		q := tx.ClaimProfile.Query().Where(claimprofile.Audience(p.Audience))
		if s.dialect == dialect.Postgres {
			q = q.ForUpdate() // SQLite transactions are already serial
		}
		cur, err := q.Only(ctx)
		switch {
		case ent.IsNotFound(err):
			created = true
			p.CreatedAt, p.UpdatedAt = now, now
			c := tx.ClaimProfile.Create().SetAudience(p.Audience).SetCreatedAt(now)
			setProfileFields(c.Mutation(), p)
			if err := c.Exec(ctx); err != nil {
				return fmt.Errorf("insert claim profile: %w", mapErr(err))
			}
		case err != nil:
			return fmt.Errorf("get claim profile: %w", mapErr(err))
		default:
			p.CreatedAt, p.UpdatedAt = cur.CreatedAt.UTC(), now
			u := tx.ClaimProfile.UpdateOneID(cur.ID)
			setProfileFields(u.Mutation(), p)
			if err := u.Exec(ctx); err != nil {
				return fmt.Errorf("update claim profile: %w", mapErr(err))
			}
		}
		return s.appendChange(ctx, tx, ChangeProfile, truncateSubject(p.Audience))
	})
	return p, created, err
}

// ClaimProfile returns the profile of an audience, or ErrNotFound.
func (s *Store) ClaimProfile(ctx context.Context, audience string) (ClaimProfile, error) {
	e, err := s.client.ClaimProfile.Query().Where(claimprofile.Audience(audience)).Only(ctx)
	if err != nil {
		return ClaimProfile{}, fmt.Errorf("get claim profile: %w", mapErr(err))
	}
	return toClaimProfile(e), nil
}

// ClaimProfiles returns every profile, ordered by audience.
func (s *Store) ClaimProfiles(ctx context.Context) ([]ClaimProfile, error) {
	es, err := s.client.ClaimProfile.Query().Order(ent.Asc(claimprofile.FieldAudience)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list claim profiles: %w", mapErr(err))
	}
	out := make([]ClaimProfile, len(es))
	for i, e := range es {
		out[i] = toClaimProfile(e)
	}
	return out, nil
}

// DeleteClaimProfile removes the profile of an audience, or returns
// ErrNotFound.
func (s *Store) DeleteClaimProfile(ctx context.Context, audience string) error {
	return s.inTx(ctx, func(tx *ent.Tx) error {
		n, err := tx.ClaimProfile.Delete().Where(claimprofile.Audience(audience)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("delete claim profile: %w", mapErr(err))
		}
		if n == 0 {
			return fmt.Errorf("delete claim profile %q: %w", audience, ErrNotFound)
		}
		return s.appendChange(ctx, tx, ChangeProfile, truncateSubject(audience))
	})
}

// truncateSubject fits a change-log subject into its column. Replicas
// reload every profile on a profile change, so the subject is informative.
func truncateSubject(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	for i := max; i > 0; i-- {
		if s[i]&0xC0 != 0x80 { // cut at a UTF-8 boundary
			return s[:i]
		}
	}
	return ""
}

func setProfileFields(m *ent.ClaimProfileMutation, p ClaimProfile) {
	m.SetSubject(p.Subject)
	claims := p.Claims
	if claims == nil {
		claims = []ProfileClaim{}
	}
	m.SetClaims(claims)
	m.SetVisibleRoles(nonNilStrings(p.VisibleRoles))
	m.SetBuiltin(p.Builtin)
	m.SetUpdatedAt(p.UpdatedAt)
}

func toClaimProfile(e *ent.ClaimProfile) ClaimProfile {
	return ClaimProfile{
		Audience:     e.Audience,
		Subject:      e.Subject,
		Claims:       e.Claims,
		VisibleRoles: e.VisibleRoles,
		Builtin:      e.Builtin,
		CreatedAt:    e.CreatedAt.UTC(),
		UpdatedAt:    e.UpdatedAt.UTC(),
	}
}
