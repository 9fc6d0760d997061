package federation

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

// Bounds of NumericDate values: year 1 to year 9999. Larger magnitudes
// would overflow time.Time's internal arithmetic.
const (
	minUnix = -62135596800
	maxUnix = 253402300799
)

// checkClaims checks the claims of a token whose signature cfg's keys
// verified, and extracts identities, groups and roles. cfg has defaults
// applied.
func checkClaims(cfg store.TrustedIssuer, claims map[string]any, now time.Time) (*Verified, error) {
	fail := func(format string, args ...any) error {
		return errs.New(errs.Unauthenticated, "token from %s %s", cfg.Issuer, fmt.Sprintf(format, args...))
	}

	// aud: a string or an array of strings that must hold an accepted one.
	if len(cfg.Audiences) == 0 {
		return nil, fail("cannot be accepted: no audience is configured for this issuer")
	}
	raw, present := claims["aud"]
	if !present || raw == nil {
		return nil, fail("has no aud")
	}
	auds, ok := stringOrStrings(raw)
	if !ok {
		return nil, fail("has an aud that is not a string or an array of strings")
	}
	if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(cfg.Audiences, a) }) {
		return nil, fail("is for another audience (aud does not contain %s)", strings.Join(cfg.Audiences, " or "))
	}

	// exp, nbf, iat with the leeway; each is checked whenever present.
	leeway := cfg.Leeway
	var times [3]time.Time
	for i, name := range []string{"exp", "nbf", "iat"} {
		v, present := claims[name]
		if !present || v == nil {
			continue
		}
		t, ok := numericDate(v)
		if !ok {
			return nil, fail("has a %s that is not a number", name)
		}
		times[i] = t
	}
	exp, nbf, iat := times[0], times[1], times[2]
	if !exp.IsZero() && !now.Before(exp.Add(leeway)) {
		return nil, fail("is expired (exp %s, now %s, leeway %s)", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), leeway)
	}
	if !nbf.IsZero() && now.Add(leeway).Before(nbf) {
		return nil, fail("is not valid yet (nbf %s is in the future, now %s, leeway %s)", nbf.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), leeway)
	}
	if !iat.IsZero() && now.Add(leeway).Before(iat) {
		return nil, fail("was issued in the future (iat %s, now %s, leeway %s)", iat.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), leeway)
	}
	for _, name := range cfg.RequiredClaims {
		if v, ok := claims[name]; !ok || v == nil {
			return nil, fail("lacks the required claim %q", truncate(name))
		}
	}

	out := &Verified{Issuer: cfg, Claims: claims, IssuedAt: iat, ExpiresAt: exp}
	if v, present := claims["sub"]; present && v != nil {
		s, ok := v.(string)
		if !ok {
			return nil, fail("has a sub that is not a string")
		}
		out.Subject = s
	}
	out.Identities = identities(cfg.IdentityClaims, claims)
	out.Groups = groups(cfg.GroupClaims, claims)
	out.Roles = mapRoles(cfg.RoleMap, out.Groups)
	return out, nil
}

// identities lists the identity candidates in the order of names. appid and
// azp are service principals; they are dropped when the token also has a
// user candidate, because in a delegated token they name the app acting for
// the user. (Usernames are never trusted to say "I am an app": a Keycloak
// service account's "service-account-<client>" preferred_username is a user
// candidate like any other, as a user may be able to choose such a name.)
func identities(names []string, claims map[string]any) []Identity {
	var out []Identity
	user := false
	for _, name := range names {
		s, ok := claims[name].(string)
		if !ok || s == "" {
			continue
		}
		id := Identity{Claim: name, Value: s, ServicePrincipal: isServicePrincipalClaim(name)}
		user = user || !id.ServicePrincipal
		out = append(out, id)
	}
	if user {
		out = slices.DeleteFunc(out, func(id Identity) bool { return id.ServicePrincipal })
	}
	return out
}

// groups is the union of the group claims' values, in order of first
// appearance. Values that are not strings are ignored.
func groups(names []string, claims map[string]any) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, name := range names {
		switch v := claims[name].(type) {
		case string:
			add(v)
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					add(s)
				}
			}
		case []string:
			for _, s := range v {
				add(s)
			}
		}
	}
	return out
}

// mapRoles applies roleMap to groups: sorted, unique, no empty names.
func mapRoles(roleMap map[string][]string, groups []string) []string {
	var out []string
	for _, g := range groups {
		for _, r := range roleMap[g] {
			if r != "" {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// stringOrStrings decodes aud: a string, or an array of strings.
func stringOrStrings(v any) ([]string, bool) {
	switch a := v.(type) {
	case string:
		return []string{a}, true
	case []string:
		return a, true
	case []any:
		out := make([]string, 0, len(a))
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// numericDate decodes a JWT NumericDate (RFC 7519 §2): seconds since the
// epoch, possibly fractional. Values beyond year 1 or 9999 are clamped.
func numericDate(v any) (time.Time, bool) {
	var f float64
	switch n := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return time.Unix(min(max(i, minUnix), maxUnix), 0), true
		}
		var err error
		f, err = strconv.ParseFloat(string(n), 64)
		if err != nil && !math.IsInf(f, 0) {
			return time.Time{}, false
		}
	case float64:
		f = n
	case int64:
		return time.Unix(min(max(n, minUnix), maxUnix), 0), true
	case int:
		return time.Unix(min(max(int64(n), minUnix), maxUnix), 0), true
	default:
		return time.Time{}, false
	}
	if math.IsNaN(f) {
		return time.Time{}, false
	}
	f = min(max(f, minUnix), maxUnix)
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)), true
}

// StableSubject is the identifier a federated identity is linked by: `sub`,
// except for Microsoft Entra ID, where it is tid + ":" + oid.
//
// Entra ID's `sub` is pairwise: the same user has a different `sub` in the
// tokens of each application (client id), so it would change whenever the
// audience or the requesting app changes. `oid` is the user's (or service
// principal's) object id, the same for every application, and unique within
// its tenant `tid`; together they name one identity for good. Entra ID is
// recognised by its issuer host (login.microsoftonline.com, sts.windows.net)
// or by a token that carries both tid and oid. An Entra ID token without
// tid or oid has no stable subject: "" (it cannot be linked).
func (v *Verified) StableSubject() string {
	tid, _ := v.Claims["tid"].(string)
	oid, _ := v.Claims["oid"].(string)
	if tid != "" && oid != "" {
		return tid + ":" + oid
	}
	if IsEntraIssuer(v.Issuer.Issuer) {
		return ""
	}
	return v.Subject
}

// IsEntraIssuer reports whether iss is a Microsoft Entra ID issuer.
func IsEntraIssuer(iss string) bool {
	u, err := url.Parse(iss)
	if err != nil {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "login.microsoftonline.com" || h == "sts.windows.net"
}
