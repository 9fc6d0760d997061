package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// issuerFlags are the settings of a trusted issuer given on the command
// line. --issuer, --audience and --leeway take over the configuration flags
// of the same name for these commands (gatehouse's own issuer still comes
// from GATEHOUSE_ISSUER).
type issuerFlags struct {
	issuer, jwksURI                                              string
	audiences, algs, requiredClaims, identityClaims, groupClaims []string
	leeway                                                       time.Duration
	roleMap                                                      []string // GROUP=ROLES entries
	jit                                                          bool
	linkBy                                                       string
	exchangeClients                                              []string
}

// bind defines the flags on fs, replacing configuration flags of the same name.
func (f *issuerFlags) bind(fs *flag.FlagSet) {
	def := func(name, usage string, v flag.Value) {
		if old := fs.Lookup(name); old != nil {
			old.Value, old.Usage, old.DefValue = v, usage, v.String()
			return
		}
		fs.Var(v, name, usage)
	}
	def("issuer", "the trusted issuer: its tokens' exact iss (https URL; http only for loopback)", (*stringValue)(&f.issuer))
	def("audience", "comma-separated accepted aud values (at least one)", (*listValue)(&f.audiences))
	def("jwks-uri", "its JWKS URL (empty: discovered from ISSUER/.well-known/openid-configuration)", (*stringValue)(&f.jwksURI))
	def("algs", "comma-separated accepted algorithms: RS256, ES256, EdDSA (default RS256)", (*listValue)(&f.algs))
	def("leeway", "clock leeway on exp/nbf/iat, whole seconds up to 5m (default 60s)", (*durationValue)(&f.leeway))
	def("required-claims", "comma-separated claims a token must carry (default exp,iat)", (*listValue)(&f.requiredClaims))
	def("identity-claims", "comma-separated claims that tell user from app-only tokens; appid/azp name the app (default email,preferred_username,upn,appid,azp)", (*listValue)(&f.identityClaims))
	def("group-claims", "comma-separated claims holding group or role names (default groups,roles)", (*listValue)(&f.groupClaims))
	def("map", "GROUP=ROLE1,ROLE2: grant local roles to members of an IdP group (repeatable; on update replaces the whole map, --map '' clears it)", (*appendValue)(&f.roleMap))
	def("jit", "create unknown users on first sight with the mapped roles (--jit=false to turn off)", (*boolValue)(&f.jit))
	def("link-by", "how a first link to an existing account may be made: none, verified_email, username, upn (default none; never to an admin or an account with a password)", (*stringValue)(&f.linkBy))
	def("exchange-clients", "comma-separated service client ids allowed to exchange this issuer's tokens (RFC 8693); --exchange-clients '' clears", (*listValue)(&f.exchangeClients))
}

// apply copies the flags that were given (set) into ti.
func (f *issuerFlags) apply(ti *store.TrustedIssuer, set map[string]bool) error {
	if set["map"] {
		m, err := parseRoleMap(f.roleMap)
		if err != nil {
			return err
		}
		ti.RoleMap = m
	}
	for name, fn := range map[string]func(){
		"issuer":           func() { ti.Issuer = f.issuer },
		"audience":         func() { ti.Audiences = f.audiences },
		"jwks-uri":         func() { ti.JWKSURI = f.jwksURI },
		"algs":             func() { ti.AllowedAlgs = f.algs },
		"leeway":           func() { ti.Leeway = f.leeway },
		"required-claims":  func() { ti.RequiredClaims = f.requiredClaims },
		"identity-claims":  func() { ti.IdentityClaims = f.identityClaims },
		"group-claims":     func() { ti.GroupClaims = f.groupClaims },
		"jit":              func() { ti.JITProvisioning = f.jit },
		"link-by":          func() { ti.LinkBy = f.linkBy },
		"exchange-clients": func() { ti.ExchangeClients = f.exchangeClients },
	} {
		if set[name] {
			fn()
		}
	}
	return nil
}

var issuerFlagNames = []string{"issuer", "audience", "jwks-uri", "algs", "leeway", "required-claims", "identity-claims", "group-claims", "map", "jit", "link-by", "exchange-clients"}

// parseRoleMap reads GROUP=ROLE1,ROLE2 entries. Roles never contain '=',
// so the last '=' splits; an empty entry contributes nothing.
func parseRoleMap(entries []string) (map[string][]string, error) {
	m := map[string][]string{}
	for _, e := range entries {
		if e == "" {
			continue
		}
		i := strings.LastIndex(e, "=")
		if i <= 0 {
			return nil, usageErr("--map %q: want GROUP=ROLE1,ROLE2", e)
		}
		group, roles := e[:i], splitList(e[i+1:])
		if len(roles) == 0 {
			return nil, usageErr("--map %q: name at least one role", e)
		}
		if _, dup := m[group]; dup {
			return nil, usageErr("--map: group %q given twice", group)
		}
		m[group] = roles
	}
	return m, nil
}

func issuers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("issuers needs a subcommand: add, list, update, remove, link, unlink, links")
	}
	sub, args := args[0], args[1:]
	wantArgs := map[string]int{"add": 0, "list": 0, "update": 1, "remove": 1, "link": 3, "unlink": 2, "links": 1}
	n, ok := wantArgs[sub]
	if !ok {
		return usageErr("unknown issuers subcommand %q", sub)
	}
	var o options
	fs := newFlagSet("issuers "+sub, &o, false, stderr)
	var f issuerFlags
	if sub == "add" || sub == "update" {
		f.bind(fs)
	}
	// Flags may come before or after ID|ISSUER.
	var pos []string
	for {
		if err := o.parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != n {
		return usageErr("issuers %s takes %d argument(s)", sub, n)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	switch {
	case sub == "add" && (!set["issuer"] || !set["audience"]):
		return usageErr("issuers add needs --issuer and --audience")
	case sub == "update" && !slices.ContainsFunc(issuerFlagNames, func(name string) bool { return set[name] }):
		return usageErr("issuers update needs at least one setting to change")
	}
	var ti store.TrustedIssuer
	if sub == "add" || sub == "update" {
		// Check --map before opening the database.
		if err := f.apply(&ti, set); err != nil {
			return err
		}
	}
	app, err := openApp(ctx, &o, stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	c := app.Core()
	switch sub {
	case "add":
		if ti, err = c.CreateTrustedIssuer(ctx, ti); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added trusted issuer %s (id %s)\n", ti.Issuer, ti.ID)
		return printIssuer(stdout, ti)
	case "update":
		cur, err := c.FindTrustedIssuer(ctx, pos[0])
		if err != nil {
			return err
		}
		if err := f.apply(&cur, set); err != nil {
			return err
		}
		if ti, err = c.UpdateTrustedIssuer(ctx, cur.ID, cur); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "updated trusted issuer %s (id %s)\n", ti.Issuer, ti.ID)
		return printIssuer(stdout, ti)
	case "remove":
		cur, err := c.FindTrustedIssuer(ctx, pos[0])
		if err != nil {
			return err
		}
		if err := c.DeleteTrustedIssuer(ctx, cur.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed trusted issuer %s (id %s)\n", cur.Issuer, cur.ID)
		return nil
	case "link":
		l, err := c.LinkIdentity(ctx, pos[0], pos[1], pos[2])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "linked subject %s of %s to account %s\n", l.Subject, pos[0], l.AccountID)
		return nil
	case "unlink":
		if err := c.UnlinkIdentity(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "unlinked subject %s of %s\n", pos[1], pos[0])
		return nil
	case "links":
		links, err := c.ListIdentityLinks(ctx, pos[0])
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SUBJECT\tACCOUNT\tBY\tCREATED")
		for _, l := range links {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Subject, l.AccountID, l.CreatedBy, l.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	}
	list, err := c.ListTrustedIssuers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tISSUER\tAUDIENCES\tJWKS\tALGS\tLEEWAY\tJIT\tLINK BY\tEXCHANGE CLIENTS\tROLE MAP")
	for _, ti := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%ds\t%t\t%s\t%s\t%s\n", ti.ID, ti.Issuer, strings.Join(ti.Audiences, ","), jwksText(ti.JWKSURI),
			strings.Join(ti.AllowedAlgs, ","), int64(ti.Leeway/time.Second), ti.JITProvisioning, ti.LinkBy, listText(ti.ExchangeClients), roleMapText(ti.RoleMap))
	}
	return tw.Flush()
}

// printIssuer shows every setting of one issuer, defaults included.
func printIssuer(w io.Writer, ti store.TrustedIssuer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"issuer", ti.Issuer},
		{"jwks_uri", jwksText(ti.JWKSURI)},
		{"audiences", strings.Join(ti.Audiences, ",")},
		{"allowed_algs", strings.Join(ti.AllowedAlgs, ",")},
		{"leeway", strconv.FormatInt(int64(ti.Leeway/time.Second), 10) + "s"},
		{"required_claims", strings.Join(ti.RequiredClaims, ",")},
		{"identity_claims", strings.Join(ti.IdentityClaims, ",")},
		{"group_claims", strings.Join(ti.GroupClaims, ",")},
		{"role_map", roleMapText(ti.RoleMap)},
		{"jit_provisioning", strconv.FormatBool(ti.JITProvisioning)},
		{"link_by", ti.LinkBy},
		{"exchange_clients", listText(ti.ExchangeClients)},
	} {
		fmt.Fprintf(tw, "  %s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

func listText(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

func jwksText(uri string) string {
	if uri == "" {
		return "(discovery)"
	}
	return uri
}

func roleMapText(m map[string][]string) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, g := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, g+"="+strings.Join(m[g], ","))
	}
	return strings.Join(parts, "; ")
}

// Flag values of the issuer settings.
type (
	stringValue   string
	listValue     []string
	appendValue   []string
	durationValue time.Duration
	boolValue     bool
)

func (v *stringValue) String() string     { return string(*v) }
func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }

func (v *listValue) String() string     { return strings.Join(*v, ",") }
func (v *listValue) Set(s string) error { *v = splitList(s); return nil }

func (v *appendValue) String() string     { return strings.Join(*v, " ") }
func (v *appendValue) Set(s string) error { *v = append(*v, s); return nil }

func (v *durationValue) String() string { return time.Duration(*v).String() }
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration like 60s or 2m: %q", s)
	}
	*v = durationValue(d)
	return nil
}

func (v *boolValue) String() string   { return strconv.FormatBool(bool(*v)) }
func (v *boolValue) IsBoolFlag() bool { return true }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("not true or false: %q", s)
	}
	*v = boolValue(b)
	return nil
}
