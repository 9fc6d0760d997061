package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehouse/gatehouse/service/server"
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

// bind defines the flags on fs. It comes before the configuration flags,
// so that --issuer, --audience and --leeway mean the trusted issuer's here.
func (f *issuerFlags) bind(fs *pflag.FlagSet) {
	fs.Var((*stringValue)(&f.issuer), "issuer", "the trusted issuer: its tokens' exact iss (https URL; http only for loopback)")
	fs.Var((*listValue)(&f.audiences), "audience", "comma-separated accepted aud values (at least one)")
	fs.Var((*stringValue)(&f.jwksURI), "jwks-uri", "its JWKS URL (empty: discovered from ISSUER/.well-known/openid-configuration)")
	fs.Var((*listValue)(&f.algs), "algs", "comma-separated accepted algorithms: RS256, ES256, EdDSA (default RS256)")
	fs.Var((*durationValue)(&f.leeway), "leeway", "clock leeway on exp/nbf/iat, whole seconds up to 5m (default 60s)")
	fs.Var((*listValue)(&f.requiredClaims), "required-claims", "comma-separated claims a token must carry (default exp,iat)")
	fs.Var((*listValue)(&f.identityClaims), "identity-claims", "comma-separated claims that tell user from app-only tokens; appid/azp name the app (default email,preferred_username,upn,appid,azp)")
	fs.Var((*listValue)(&f.groupClaims), "group-claims", "comma-separated claims holding group or role names (default groups,roles)")
	fs.Var((*appendValue)(&f.roleMap), "map", "grant local roles to members of an IdP group (repeatable; on update replaces the whole map, --map '' clears it)")
	fs.Var((*boolValue)(&f.jit), "jit", "create unknown users on first sight with the mapped roles (--jit=false to turn off)")
	fs.Lookup("jit").NoOptDefVal = "true"
	fs.Var((*stringValue)(&f.linkBy), "link-by", "how a first link to an existing account may be made: none, verified_email, username, upn (default none; never to an admin or an account with a password)")
	fs.Var((*listValue)(&f.exchangeClients), "exchange-clients", "comma-separated service client ids allowed to exchange this issuer's tokens (RFC 8693); --exchange-clients '' clears")
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

func newIssuersCmd() *cobra.Command {
	return newGroup("issuers", "Trust company IdPs' tokens (Entra ID, Keycloak, ...) and link their identities", "trusted issuer",
		newIssuerEditCmd("add"),
		newIssuersListCmd(),
		newIssuerEditCmd("update"),
		newIssuersRemoveCmd(),
		newIssuersLinkCmd(),
		newIssuersUnlinkCmd(),
		newIssuersLinksCmd(),
	)
}

// newIssuerEditCmd is `issuers add` or `issuers update`: they take the same
// settings, update only those given.
func newIssuerEditCmd(sub string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add --issuer URL --audience A[,B]",
		Short: "Trust a company IdP's tokens",
		Example: `  gatehouse issuers add --issuer https://sso.example.com/realms/corp --audience gatehouse \
      --map /staff=viewer --map /ops=admin --jit --link-by verified_email`,
		Args: noArgs,
	}
	if sub == "update" {
		cmd.Use, cmd.Short, cmd.Args = "update ID|ISSUER", "Change only the given settings of a trusted issuer", exactArgs(1, "exactly one issuer id or URL")
		cmd.Example = `  gatehouse issuers update https://sso.example.com/realms/corp --map '' --jit=false`
	}
	var f issuerFlags
	f.bind(cmd.Flags())
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		set := map[string]bool{}
		for _, name := range issuerFlagNames {
			set[name] = cmd.Flags().Changed(name)
		}
		switch {
		case sub == "add" && (!set["issuer"] || !set["audience"]):
			return usageErr("issuers add needs --issuer and --audience")
		case sub == "update" && !slices.ContainsFunc(issuerFlagNames, func(name string) bool { return set[name] }):
			return usageErr("issuers update needs at least one setting to change")
		}
		// Check --map before opening the database.
		var ti store.TrustedIssuer
		if err := f.apply(&ti, set); err != nil {
			return err
		}
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			c := app.Core()
			verb := "added"
			if sub == "add" {
				var err error
				if ti, err = c.CreateTrustedIssuer(ctx, ti); err != nil {
					return err
				}
			} else {
				cur, err := c.FindTrustedIssuer(ctx, args[0])
				if err != nil {
					return err
				}
				if err := f.apply(&cur, set); err != nil {
					return err
				}
				if ti, err = c.UpdateTrustedIssuer(ctx, cur.ID, cur); err != nil {
					return err
				}
				verb = "updated"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s trusted issuer %s (id %s)\n", verb, ti.Issuer, ti.ID)
			return printIssuer(cmd.OutOrStdout(), ti)
		})
	}
	return cmd
}

func newIssuersListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the trusted issuers", Args: noArgs}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			list, err := app.Core().ListTrustedIssuers(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tISSUER\tAUDIENCES\tJWKS\tALGS\tLEEWAY\tJIT\tLINK BY\tEXCHANGE CLIENTS\tROLE MAP")
			for _, ti := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%ds\t%t\t%s\t%s\t%s\n", ti.ID, ti.Issuer, strings.Join(ti.Audiences, ","), jwksText(ti.JWKSURI),
					strings.Join(ti.AllowedAlgs, ","), int64(ti.Leeway/time.Second), ti.JITProvisioning, ti.LinkBy, listText(ti.ExchangeClients), roleMapText(ti.RoleMap))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newIssuersRemoveCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "remove ID|ISSUER", Short: "Stop trusting an issuer", Args: exactArgs(1, "exactly one issuer id or URL")}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			c := app.Core()
			cur, err := c.FindTrustedIssuer(ctx, args[0])
			if err != nil {
				return err
			}
			if err := c.DeleteTrustedIssuer(ctx, cur.ID); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed trusted issuer %s (id %s)\n", cur.Issuer, cur.ID)
			return nil
		})
	}
	return cmd
}

func newIssuersLinkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "link ISSUER SUBJECT USERNAME|CLIENT_ID|ID",
		Short:       "Link an IdP identity to a local account",
		Args:        exactArgs(3, "an issuer, a subject and a local account"),
		Annotations: map[string]string{annotationNoun: "identity link"},
	}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			l, err := app.Core().LinkIdentity(ctx, args[0], args[1], args[2])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "linked subject %s of %s to account %s\n", l.Subject, args[0], l.AccountID)
			return nil
		})
	}
	return cmd
}

func newIssuersUnlinkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "unlink ISSUER SUBJECT",
		Short:       "Remove the link of an IdP identity",
		Args:        exactArgs(2, "an issuer and a subject"),
		Annotations: map[string]string{annotationNoun: "identity link"},
	}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			if err := app.Core().UnlinkIdentity(ctx, args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "unlinked subject %s of %s\n", args[1], args[0])
			return nil
		})
	}
	return cmd
}

func newIssuersLinksCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "links ISSUER", Short: "List an issuer's identity links", Args: exactArgs(1, "exactly one issuer id or URL")}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			links, err := app.Core().ListIdentityLinks(ctx, args[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUBJECT\tACCOUNT\tBY\tCREATED")
			for _, l := range links {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.Subject, l.AccountID, l.CreatedBy, l.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		})
	}
	return cmd
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
func (v *stringValue) Type() string       { return "string" }

func (v *listValue) String() string     { return strings.Join(*v, ",") }
func (v *listValue) Set(s string) error { *v = splitList(s); return nil }
func (v *listValue) Type() string       { return "list" }

func (v *appendValue) String() string     { return strings.Join(*v, " ") }
func (v *appendValue) Set(s string) error { *v = append(*v, s); return nil }
func (v *appendValue) Type() string       { return "GROUP=ROLES" }

// String is empty for 0, so that help shows the default the usage names.
func (v *durationValue) String() string {
	if *v == 0 {
		return ""
	}
	return time.Duration(*v).String()
}
func (v *durationValue) Type() string { return "duration" }
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
func (v *boolValue) Type() string     { return "bool" }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("not true or false: %q", s)
	}
	*v = boolValue(b)
	return nil
}
