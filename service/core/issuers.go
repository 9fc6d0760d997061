package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/federation"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/store"
)

// Limits of trusted-issuer settings.
const (
	// MaxIssuerLeeway is the largest clock leeway a trusted issuer may have.
	MaxIssuerLeeway = 5 * time.Minute

	maxIssuerLen   = 512  // store column
	maxJWKSURILen  = 1024 // store column
	maxIssuerList  = 100  // entries of each list and of the role map
	maxIssuerValue = 512  // bytes of an audience, claim or group name
)

// Link policies of a trusted issuer (link_by): how a federated identity's
// first link to an existing local account may be made. An account with the
// admin role or a local password is never linked automatically.
const (
	// LinkByNone (the default): only through links an admin made, or JIT.
	LinkByNone = "none"
	// LinkByVerifiedEmail: the account whose email equals the token's email,
	// only when email_verified (or Entra ID's xms_edov) is true.
	LinkByVerifiedEmail = store.LinkByVerifiedEmail
	// LinkByUsername: the account whose username equals preferred_username.
	LinkByUsername = store.LinkByUsername
	// LinkByUPN: the account whose username or email equals upn.
	LinkByUPN = store.LinkByUPN
)

// LinkPolicies lists the accepted link_by values.
var LinkPolicies = []string{LinkByNone, LinkByVerifiedEmail, LinkByUsername, LinkByUPN}

// TrustedIssuerDefaults fills the unset fields of a trusted issuer with the
// defaults: allowed_algs ["RS256"], leeway 60 s, required_claims ["exp",
// "iat"], identity_claims ["email", "preferred_username", "upn", "appid",
// "azp"], group_claims ["groups", "roles"]. It is the one place these
// defaults live.
func TrustedIssuerDefaults(ti store.TrustedIssuer) store.TrustedIssuer {
	leeway := ti.Leeway
	ti = federation.WithDefaults(ti) // the one place the defaults live
	if leeway < 0 {
		ti.Leeway = leeway // kept, for validation to refuse
	}
	return ti
}

// CreateTrustedIssuer adds a trusted issuer after filling in defaults and
// validating it.
func (s *Service) CreateTrustedIssuer(ctx context.Context, ti store.TrustedIssuer) (store.TrustedIssuer, error) {
	ti, err := s.checkTrustedIssuer(ti)
	if err != nil {
		return store.TrustedIssuer{}, err
	}
	ti.ID = uuid.NewString()
	out, err := s.store.CreateTrustedIssuer(audited(ctx, issuerEvent(store.AuditIssuerAdded, ti)), ti)
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.TrustedIssuer{}, errs.Wrap(errs.AlreadyExists, err, "a trusted issuer %q already exists", truncate(ti.Issuer))
	case err != nil:
		return store.TrustedIssuer{}, errs.Wrap(errs.Internal, err, "could not store the trusted issuer")
	}
	s.syncView(ctx)
	return out, nil
}

// ListTrustedIssuers returns every trusted issuer, ordered by issuer.
func (s *Service) ListTrustedIssuers(ctx context.Context) ([]store.TrustedIssuer, error) {
	list, err := s.store.TrustedIssuers(ctx)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "could not list the trusted issuers")
	}
	return list, nil
}

// FindTrustedIssuer returns the trusted issuer with this id or
// issuer string, for the CLI.
func (s *Service) FindTrustedIssuer(ctx context.Context, idOrIssuer string) (store.TrustedIssuer, error) {
	if err := checkIssuerID(idOrIssuer, maxJWKSURILen); err != nil {
		return store.TrustedIssuer{}, err
	}
	ti, err := s.store.TrustedIssuer(ctx, idOrIssuer)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.TrustedIssuer{}, errs.New(errs.NotFound, "no trusted issuer %q", truncate(idOrIssuer))
	case err != nil:
		return store.TrustedIssuer{}, errs.Wrap(errs.Internal, err, "could not read the trusted issuer")
	}
	return ti, nil
}

// UpdateTrustedIssuer replaces every field of the trusted issuer with this
// id (unset fields get their defaults).
func (s *Service) UpdateTrustedIssuer(ctx context.Context, id string, ti store.TrustedIssuer) (store.TrustedIssuer, error) {
	if err := checkIssuerID(id, 64); err != nil {
		return store.TrustedIssuer{}, err
	}
	ti, err := s.checkTrustedIssuer(ti)
	if err != nil {
		return store.TrustedIssuer{}, err
	}
	out, err := s.store.UpdateTrustedIssuer(audited(ctx, issuerEvent(store.AuditIssuerUpdated, store.TrustedIssuer{ID: id, Issuer: ti.Issuer})), id, func(cur *store.TrustedIssuer) error {
		*cur = ti // the store keeps id and created_at and sets updated_at
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.TrustedIssuer{}, errs.New(errs.NotFound, "no trusted issuer with id %q", truncate(id))
	case errors.Is(err, store.ErrConflict):
		return store.TrustedIssuer{}, errs.Wrap(errs.AlreadyExists, err, "a trusted issuer %q already exists", truncate(ti.Issuer))
	case err != nil:
		return store.TrustedIssuer{}, errs.Wrap(errs.Internal, err, "could not update the trusted issuer")
	}
	s.syncView(ctx)
	return out, nil
}

// DeleteTrustedIssuer removes a trusted issuer; its tokens stop being
// accepted on every replica within a poll interval.
func (s *Service) DeleteTrustedIssuer(ctx context.Context, id string) error {
	if err := checkIssuerID(id, 64); err != nil {
		return err
	}
	ev := issuerEvent(store.AuditIssuerRemoved, store.TrustedIssuer{ID: id})
	if cur, err := s.store.TrustedIssuer(ctx, id); err == nil && cur.ID == id {
		ev.TargetName = cur.Issuer
	}
	if err := s.store.DeleteTrustedIssuer(audited(ctx, ev), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errs.New(errs.NotFound, "no trusted issuer with id %q", truncate(id))
		}
		return errs.Wrap(errs.Internal, err, "could not delete the trusted issuer")
	}
	s.syncView(ctx)
	return nil
}

func issuerEvent(typ string, ti store.TrustedIssuer) store.AuditEvent {
	return store.AuditEvent{Type: typ, Target: ti.ID, TargetName: ti.Issuer}
}

func checkIssuerID(id string, max int) error {
	if id == "" {
		return errs.New(errs.InvalidArgument, "id is required")
	}
	if !utf8.ValidString(id) || len(id) > max || strings.ContainsFunc(id, unicode.IsControl) {
		return errs.New(errs.InvalidArgument, "id is not valid UTF-8 or too long")
	}
	return nil
}

// checkTrustedIssuer applies the defaults and validates every field.
func (s *Service) checkTrustedIssuer(ti store.TrustedIssuer) (store.TrustedIssuer, error) {
	ti = TrustedIssuerDefaults(ti)
	if ti.LinkBy == "" {
		ti.LinkBy = LinkByNone
	}
	if !slices.Contains(LinkPolicies, ti.LinkBy) {
		return ti, errs.New(errs.InvalidArgument, "link_by %q is not one of %s", truncate(ti.LinkBy), strings.Join(LinkPolicies, ", "))
	}
	if err := checkValues("exchange_clients", ti.ExchangeClients); err != nil {
		return ti, err
	}
	if err := checkIssuerURL("issuer", ti.Issuer, maxIssuerLen, true); err != nil {
		return ti, err
	}
	if ti.Issuer == s.cfg.Issuer || strings.TrimRight(ti.Issuer, "/") == strings.TrimRight(s.cfg.Issuer, "/") {
		return ti, errs.New(errs.InvalidArgument, "issuer %q is gatehouse's own issuer and cannot be trusted as an external one", truncate(ti.Issuer))
	}
	if ti.JWKSURI != "" {
		if err := checkIssuerURL("jwks_uri", ti.JWKSURI, maxJWKSURILen, false); err != nil {
			return ti, err
		}
	}
	if len(ti.Audiences) == 0 {
		return ti, errs.New(errs.InvalidArgument, "audiences: at least one accepted audience is required")
	}
	lists := []struct {
		name string
		list []string
	}{
		{"audiences", ti.Audiences},
		{"required_claims", ti.RequiredClaims},
		{"identity_claims", ti.IdentityClaims},
		{"group_claims", ti.GroupClaims},
	}
	for _, l := range lists {
		if err := checkValues(l.name, l.list); err != nil {
			return ti, err
		}
	}
	if !slices.Contains(ti.RequiredClaims, "exp") {
		// A token that never expires is never acceptable.
		return ti, errs.New(errs.InvalidArgument, "required_claims must include exp")
	}
	for _, a := range ti.AllowedAlgs {
		if !jose.Verifiable(a) {
			return ti, errs.New(errs.InvalidArgument, "allowed_algs: %q is not supported; use %s", truncate(a), strings.Join(jose.VerifyAlgorithms(), ", "))
		}
	}
	if ti.Leeway < 0 || ti.Leeway > MaxIssuerLeeway || ti.Leeway%time.Second != 0 {
		return ti, errs.New(errs.InvalidArgument, "leeway_seconds must be a whole number of seconds between 0 and 300")
	}
	if len(ti.RoleMap) > maxIssuerList {
		return ti, errs.New(errs.InvalidArgument, "role_map: at most %d groups", maxIssuerList)
	}
	groups := make([]string, 0, len(ti.RoleMap))
	for g := range ti.RoleMap {
		groups = append(groups, g)
	}
	slices.Sort(groups) // report the first bad entry deterministically
	for _, g := range groups {
		if g == "" {
			return ti, errs.New(errs.InvalidArgument, "role_map: a group name must not be empty")
		}
		if err := checkValue("role_map", g); err != nil {
			return ti, err
		}
		roles := ti.RoleMap[g]
		if len(roles) == 0 {
			return ti, errs.New(errs.InvalidArgument, "role_map: group %q maps to no roles", truncate(g))
		}
		if _, err := checkRoles(roles); err != nil {
			return ti, errs.New(errs.InvalidArgument, "role_map: group %q: %s", truncate(g), errs.As(err).Message)
		}
	}
	return ti, nil
}

// checkIssuerURL accepts an absolute https URL, or http for a loopback host
// (127.0.0.0/8, ::1, localhost). An issuer must also have no query or
// fragment (OpenID Connect Discovery 1.0 §3).
func checkIssuerURL(name, v string, max int, issuer bool) error {
	if v == "" {
		return errs.New(errs.InvalidArgument, "%s is required", name)
	}
	if len(v) > max || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return errs.New(errs.InvalidArgument, "%s must be a URL of at most %d bytes without spaces or control characters", name, max)
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil || u.Fragment != "" || strings.Contains(v, "#") {
		return errs.New(errs.InvalidArgument, "%s %q must be an absolute https URL without user info or fragment", name, truncate(v))
	}
	if issuer && (u.RawQuery != "" || u.ForceQuery) {
		return errs.New(errs.InvalidArgument, "issuer %q must not have a query", truncate(v))
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	default:
		return errs.New(errs.InvalidArgument, "%s %q must be an https URL (http only for 127.0.0.0/8, ::1 or localhost)", name, truncate(v))
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Zone() == "" && a.IsLoopback()
}

func checkValues(name string, list []string) error {
	if len(list) > maxIssuerList {
		return errs.New(errs.InvalidArgument, "%s: at most %d entries", name, maxIssuerList)
	}
	for _, v := range list {
		if err := checkValue(name, v); err != nil {
			return err
		}
	}
	return nil
}

// checkValue accepts a non-empty one-line UTF-8 string of bounded size (an
// audience, claim or group name).
func checkValue(name, v string) error {
	if v == "" {
		return errs.New(errs.InvalidArgument, "%s: entries must not be empty", name)
	}
	if len(v) > maxIssuerValue || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return errs.New(errs.InvalidArgument, "%s: %q must be valid UTF-8 without control characters, at most %d bytes", name, truncate(v), maxIssuerValue)
	}
	return nil
}

// LinkIdentity links a trusted issuer's subject (sub; tid:oid for Entra ID)
// to a local account, explicitly: the only way to link an account that
// holds the admin role or has a local password. issuer is the trusted
// issuer's id or iss; account an account id, a username or a client_id.
func (s *Service) LinkIdentity(ctx context.Context, issuer, subject, account string) (store.FederatedLink, error) {
	ti, err := s.FindTrustedIssuer(ctx, issuer)
	if err != nil {
		return store.FederatedLink{}, err
	}
	if err := checkLinkSubject(subject); err != nil {
		return store.FederatedLink{}, err
	}
	a, err := s.findLinkAccount(ctx, account)
	if err != nil {
		return store.FederatedLink{}, err
	}
	l, err := s.store.CreateFederatedLink(audited(ctx, linkEvent(store.AuditLinkCreated, ti, subject, a, store.LinkByAdmin)),
		store.FederatedLink{IssuerID: ti.ID, Subject: subject, AccountID: a.ID, CreatedBy: store.LinkByAdmin})
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.FederatedLink{}, errs.New(errs.AlreadyExists, "subject %q of %s is linked already; unlink it first", truncate(subject), truncate(ti.Issuer))
	case err != nil:
		return store.FederatedLink{}, errs.Wrap(errs.Internal, err, "could not store the link")
	}
	s.log.Info("linked a federated identity", "issuer", ti.Issuer, "subject", truncate(subject), "account", a.ID, "by", store.LinkByAdmin)
	s.syncView(ctx)
	return l, nil
}

// UnlinkIdentity removes the link of a trusted issuer's subject; its tokens
// are refused on every replica within a poll interval (unless JIT or the
// issuer's link_by policy links them again).
func (s *Service) UnlinkIdentity(ctx context.Context, issuer, subject string) error {
	ti, err := s.FindTrustedIssuer(ctx, issuer)
	if err != nil {
		return err
	}
	if err := checkLinkSubject(subject); err != nil {
		return err
	}
	ev := linkEvent(store.AuditLinkRemoved, ti, subject, store.Account{}, "")
	if l, err := s.store.FederatedLink(ctx, ti.ID, subject); err == nil {
		if a, err := s.store.GetAccount(ctx, store.AccountKey{ID: l.AccountID}); err == nil {
			ev = linkEvent(store.AuditLinkRemoved, ti, subject, a, "")
		} else {
			ev.Target = l.AccountID
		}
	}
	if err := s.store.DeleteFederatedLink(audited(ctx, ev), ti.ID, subject); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errs.New(errs.NotFound, "subject %q of %s is not linked", truncate(subject), truncate(ti.Issuer))
		}
		return errs.Wrap(errs.Internal, err, "could not delete the link")
	}
	s.log.Info("unlinked a federated identity", "issuer", ti.Issuer, "subject", truncate(subject))
	s.syncView(ctx)
	return nil
}

// ListIdentityLinks returns the links of one trusted issuer, oldest first.
func (s *Service) ListIdentityLinks(ctx context.Context, issuer string) ([]store.FederatedLink, error) {
	ti, err := s.FindTrustedIssuer(ctx, issuer)
	if err != nil {
		return nil, err
	}
	list, err := s.store.FederatedLinks(ctx, ti.ID)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "could not list the links")
	}
	return list, nil
}

func checkLinkSubject(subject string) error {
	if subject == "" {
		return errs.New(errs.InvalidArgument, "subject is required")
	}
	return checkValue("subject", subject)
}

// findLinkAccount finds an account by id, username or client_id.
func (s *Service) findLinkAccount(ctx context.Context, account string) (store.Account, error) {
	if account == "" {
		return store.Account{}, errs.New(errs.InvalidArgument, "account (id or username) is required")
	}
	if err := checkValue("account", account); err != nil {
		return store.Account{}, err
	}
	keys := []store.AccountKey{{ID: account}, {ClientID: account}}
	if u, err := normaliseUsername(account); err == nil {
		keys = append(keys, store.AccountKey{Username: u})
	}
	for _, k := range keys {
		a, err := s.store.GetAccount(ctx, k)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Account{}, errs.Wrap(errs.Internal, err, "could not read the account")
		}
	}
	return store.Account{}, errs.New(errs.NotFound, "no account %q", truncate(account))
}

// MigrateIssuerLinkPolicies is serve's one-time upgrade step for trusted
// issuers stored before federated links existed (link_by not set). Their
// tokens used to be matched afresh on every request by identity_claims
// (email, preferred_username, upn), which let an IdP user take over any
// local account, admins included. Each such issuer gets the link_by policy
// closest to its old matching without the dangerous part: verified_email
// when its identity claims started with email (now only when the IdP says
// the email is verified), username for preferred_username, upn for upn,
// none otherwise. Accounts with the admin role or a local password are
// never linked automatically. A WARN per issuer says what changed. It
// returns how many issuers were updated. Idempotent and safe for replicas
// starting together; serve runs it before loading the view.
func MigrateIssuerLinkPolicies(ctx context.Context, st *store.Store, log *slog.Logger) (int, error) {
	list, err := st.TrustedIssuers(ctx)
	if err != nil {
		return 0, fmt.Errorf("list the trusted issuers: %w", err)
	}
	n := 0
	for _, ti := range list {
		if ti.LinkBy != "" {
			continue
		}
		policy := legacyLinkPolicy(TrustedIssuerDefaults(ti).IdentityClaims)
		if _, err := st.UpdateTrustedIssuer(ctx, ti.ID, func(cur *store.TrustedIssuer) error {
			if cur.LinkBy == "" { // another replica may have migrated it
				cur.LinkBy = policy
			}
			return nil
		}); err != nil {
			return n, fmt.Errorf("set link_by of trusted issuer %s: %w", ti.Issuer, err)
		}
		n++
		log.Warn("trusted issuer upgraded to federated links: tokens now map to local accounts only through links (issuer, subject); "+
			"a first link is made by the link_by policy, never to an account with the admin role or a local password; "+
			"link those with `gatehouse issuers link`, and list the service clients that may exchange its tokens with `gatehouse issuers update --exchange-clients`",
			"issuer", ti.Issuer, "id", ti.ID, "link_by", policy, "identity_claims", strings.Join(ti.IdentityClaims, ","))
	}
	return n, nil
}

// legacyLinkPolicy is the link_by closest to the old claim matching: the
// first user identity claim decides.
func legacyLinkPolicy(identityClaims []string) string {
	for _, c := range identityClaims {
		switch c {
		case "email":
			return LinkByVerifiedEmail
		case "preferred_username":
			return LinkByUsername
		case "upn":
			return LinkByUPN
		}
	}
	return LinkByNone
}
