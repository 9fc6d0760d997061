package core

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

// A claim profile shapes the access tokens of one audience for a consumer
// that reads claims its own way (Apache Airflow reads `sub` as a username
// and `role` as one role name). Profiles live in the view, so issuing a
// token never reads them from the database.

// Subject values of a claim profile: what `sub` carries.
const (
	// ProfileSubjectID is the account id (gatehouse's default).
	ProfileSubjectID = "id"
	// ProfileSubjectUsername is a user's username, a service client's
	// client id.
	ProfileSubjectUsername = "username"
)

// Sources of a profile claim's value.
const (
	// SourceRole is one role name: the first of the account's (visible)
	// roles in the claim's role order, else its first visible role, else
	// the claim is left out.
	SourceRole = "role"
	// SourceRoles is the list of the account's visible roles.
	SourceRoles = "roles"
	// SourceEmail is the account's email.
	SourceEmail = "email"
	// SourceName is a user's display name.
	SourceName = "name"
	// SourceUsername is a user's username, a service client's client id.
	SourceUsername = "username"
	// SourceConstant is the claim's value as given.
	SourceConstant = "constant"
)

// BuiltinAirflow is the built-in profile for Apache Airflow's auth
// managers: `sub` the username, `role` one role name.
const BuiltinAirflow = "airflow"

// Limits of a claim profile.
const (
	maxProfileClaims   = 16
	maxProfileRoles    = 100 // visible roles, and entries of a role order
	maxProfileValueLen = 256 // bytes of a constant
)

// uidClaim carries the account id when `sub` does not (accessClaims.UID).
const uidClaim = "uid"

// reservedClaims are the claim names a profile may not add: the registered
// JWT claims, and every claim gatehouse sets or reads itself (its own
// validation, revocation and introspection depend on their meaning).
// Compared case-insensitively, as encoding/json matches member names.
func reservedClaims() []string {
	return []string{
		"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "typ",
		uidClaim, "sid", "client_id", "scope", "roles", "preferred_username", "email", "idp", "idp_roles",
	}
}

// ASCII only, so that a case-insensitive comparison is plain ASCII folding.
var claimNamePattern = namePattern{regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:-]*$`), 64}

// AirflowRoleOrder is the default role order of the airflow profile:
// Airflow's FAB role names, most privileged first.
func AirflowRoleOrder() []string { return []string{"Admin", "Op", "User", "Viewer", "Public"} }

// Builtins lists the built-in profiles.
func Builtins() []string { return []string{BuiltinAirflow} }

// ProfileSpec is a claim profile as an admin asks for it.
type ProfileSpec struct {
	Audience string
	// Builtin names a built-in profile to start from ("": none). The other
	// fields, when set, override or extend it.
	Builtin string
	// Subject is ProfileSubjectID or ProfileSubjectUsername ("": the
	// built-in's, else id).
	Subject string
	// Claims are added; one named like a built-in's claim replaces it.
	Claims []store.ProfileClaim
	// RoleOrder is the order of every role claim that gives none of its
	// own (the built-in's included).
	RoleOrder []string
	// VisibleRoles limits the roles shown in `roles` and picked for role
	// claims; empty: all.
	VisibleRoles []string
}

// ExpandProfile expands a spec into the profile it stores: the
// built-in's settings, then the spec's, then validation.
func ExpandProfile(spec ProfileSpec) (store.ClaimProfile, error) {
	p := store.ClaimProfile{Audience: spec.Audience, Subject: ProfileSubjectID, Builtin: spec.Builtin}
	switch spec.Builtin {
	case "":
	case BuiltinAirflow:
		p.Subject = ProfileSubjectUsername
		p.Claims = []store.ProfileClaim{{Name: "role", Source: SourceRole}}
	default:
		return store.ClaimProfile{}, errs.New(errs.InvalidArgument, "builtin %q is unknown (known: %s)", truncate(spec.Builtin), strings.Join(Builtins(), ", "))
	}
	if spec.Subject != "" {
		p.Subject = spec.Subject
	}
	var order []string // for role claims without an order of their own
	switch {
	case len(spec.RoleOrder) > 0:
		order = spec.RoleOrder
	case spec.Builtin == BuiltinAirflow:
		order = AirflowRoleOrder()
	}
	builtin := make([]bool, len(p.Claims)) // still the built-in's claim
	for i := range builtin {
		builtin[i] = true
	}
	for _, c := range spec.Claims {
		c.RoleOrder = slices.Clone(c.RoleOrder)
		i := slices.IndexFunc(p.Claims, func(b store.ProfileClaim) bool { return strings.EqualFold(b.Name, c.Name) })
		if i >= 0 && i < len(builtin) && builtin[i] {
			p.Claims[i], builtin[i] = c, false // replaces the built-in's claim of that name
			continue
		}
		p.Claims = append(p.Claims, c) // a repeated name is refused below
	}
	hasRole := false
	for i := range p.Claims {
		if c := &p.Claims[i]; c.Source == SourceRole {
			hasRole = true
			if len(c.RoleOrder) == 0 {
				c.RoleOrder = slices.Clone(order)
			}
		}
	}
	if len(spec.RoleOrder) > 0 && !hasRole {
		return store.ClaimProfile{}, errs.New(errs.InvalidArgument, "role_order needs a claim with source role")
	}
	p.VisibleRoles = slices.Clone(spec.VisibleRoles)
	return p, checkClaimProfile(p)
}

// checkClaimProfile validates a profile as stored.
func checkClaimProfile(p store.ClaimProfile) error {
	if prob := audienceProblem(p.Audience); prob != "" {
		return errs.New(errs.InvalidArgument, "audience %q %s", truncate(p.Audience), prob)
	}
	if p.Subject != ProfileSubjectID && p.Subject != ProfileSubjectUsername {
		return errs.New(errs.InvalidArgument, "subject %q must be %s or %s", truncate(p.Subject), ProfileSubjectID, ProfileSubjectUsername)
	}
	if len(p.Claims) > maxProfileClaims {
		return errs.New(errs.InvalidArgument, "at most %d claims", maxProfileClaims)
	}
	for i, c := range p.Claims {
		if err := checkProfileClaim(c); err != nil {
			return err
		}
		if slices.ContainsFunc(p.Claims[:i], func(o store.ProfileClaim) bool { return strings.EqualFold(o.Name, c.Name) }) {
			return errs.New(errs.InvalidArgument, "claim %q is given twice", c.Name)
		}
	}
	if err := checkProfileRoles("visible_roles", p.VisibleRoles); err != nil {
		return err
	}
	return nil
}

func checkProfileClaim(c store.ProfileClaim) error {
	if !claimNamePattern.MatchString(c.Name) {
		return errs.New(errs.InvalidArgument, "claim name %q must be 1-64 ASCII letters, digits, '_', '.', ':' or '-', starting with a letter", truncate(c.Name))
	}
	if reserved := reservedClaims(); slices.ContainsFunc(reserved, func(r string) bool { return strings.EqualFold(r, c.Name) }) {
		return errs.New(errs.InvalidArgument, "claim %q is reserved: gatehouse sets it itself (reserved: %s)", c.Name, strings.Join(reserved, ", "))
	}
	switch c.Source {
	case SourceRole, SourceRoles, SourceEmail, SourceName, SourceUsername:
		if c.Value != "" {
			return errs.New(errs.InvalidArgument, "claim %q: a value is only for source constant", c.Name)
		}
	case SourceConstant:
		switch {
		case c.Value == "":
			return errs.New(errs.InvalidArgument, "claim %q: source constant needs a value", c.Name)
		case len(c.Value) > maxProfileValueLen:
			return errs.New(errs.InvalidArgument, "claim %q: the value is longer than %d bytes", c.Name, maxProfileValueLen)
		case !utf8.ValidString(c.Value) || strings.IndexFunc(c.Value, unicode.IsControl) >= 0:
			return errs.New(errs.InvalidArgument, "claim %q: the value must be UTF-8 without control characters", c.Name)
		}
	default:
		return errs.New(errs.InvalidArgument, "claim %q: source %q must be one of role, roles, email, name, username, constant", c.Name, truncate(c.Source))
	}
	if len(c.RoleOrder) > 0 && c.Source != SourceRole {
		return errs.New(errs.InvalidArgument, "claim %q: a role order is only for source role", c.Name)
	}
	return checkProfileRoles("claim "+c.Name+": role_order", c.RoleOrder)
}

// checkProfileRoles checks role names as accounts have them, each at most
// once (roles are matched case-insensitively in profiles).
func checkProfileRoles(what string, roles []string) error {
	if len(roles) > maxProfileRoles {
		return errs.New(errs.InvalidArgument, "%s: at most %d roles", what, maxProfileRoles)
	}
	for i, r := range roles {
		if !rolePattern.MatchString(r) {
			return errs.New(errs.InvalidArgument, "%s: role %q must be 1-128 characters of letters, digits, '.', '_', ':', '/' or '-'", what, truncate(r))
		}
		if slices.ContainsFunc(roles[:i], func(o string) bool { return strings.EqualFold(o, r) }) {
			return errs.New(errs.InvalidArgument, "%s: role %q is given twice", what, r)
		}
	}
	return nil
}

// PutClaimProfile creates or replaces the claim profile of spec.Audience.
// Every replica applies it within its poll interval; tokens already issued
// keep their shape.
func (s *Service) PutClaimProfile(ctx context.Context, spec ProfileSpec) (store.ClaimProfile, error) {
	p, err := ExpandProfile(spec)
	if err != nil {
		return store.ClaimProfile{}, err
	}
	ev := store.AuditEvent{Type: store.AuditClaimProfileSet, Target: p.Audience, Detail: profileDetail(p)}
	out, _, err := s.store.PutClaimProfile(audited(ctx, ev), p)
	if err != nil {
		return store.ClaimProfile{}, errs.Wrap(errs.Internal, err, "could not store the claim profile")
	}
	s.syncView(ctx)
	return out, nil
}

// ClaimProfile returns the claim profile of an audience.
func (s *Service) ClaimProfile(ctx context.Context, audience string) (store.ClaimProfile, error) {
	if prob := audienceProblem(audience); prob != "" {
		return store.ClaimProfile{}, errs.New(errs.InvalidArgument, "audience %q %s", truncate(audience), prob)
	}
	p, err := s.store.ClaimProfile(ctx, audience)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.ClaimProfile{}, errs.New(errs.NotFound, "audience %q has no claim profile", truncate(audience))
	case err != nil:
		return store.ClaimProfile{}, errs.Wrap(errs.Internal, err, "could not read the claim profile")
	}
	return p, nil
}

// ListClaimProfiles returns every claim profile, ordered by audience.
func (s *Service) ListClaimProfiles(ctx context.Context) ([]store.ClaimProfile, error) {
	list, err := s.store.ClaimProfiles(ctx)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "could not list the claim profiles")
	}
	return list, nil
}

// DeleteClaimProfile removes the claim profile of an audience: its new
// tokens carry gatehouse's own claims again.
func (s *Service) DeleteClaimProfile(ctx context.Context, audience string) error {
	if prob := audienceProblem(audience); prob != "" {
		return errs.New(errs.InvalidArgument, "audience %q %s", truncate(audience), prob)
	}
	ev := store.AuditEvent{Type: store.AuditClaimProfileDeleted, Target: audience}
	if err := s.store.DeleteClaimProfile(audited(ctx, ev), audience); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errs.New(errs.NotFound, "audience %q has no claim profile", truncate(audience))
		}
		return errs.Wrap(errs.Internal, err, "could not delete the claim profile")
	}
	s.syncView(ctx)
	return nil
}

// profileDetail summarises a profile for the audit trail.
func profileDetail(p store.ClaimProfile) map[string]string {
	claims := make([]string, len(p.Claims))
	for i, c := range p.Claims {
		claims[i] = c.Name + "=" + c.Source
	}
	d := map[string]string{"subject": p.Subject, "claims": strings.Join(claims, ",")}
	if p.Builtin != "" {
		d["builtin"] = p.Builtin
	}
	if len(p.VisibleRoles) > 0 {
		d["visible_roles"] = strings.Join(p.VisibleRoles, ",")
	}
	return d
}
