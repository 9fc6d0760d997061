package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
)

func newProfilesCmd() *cobra.Command {
	return newGroup("profiles", "Shape the access tokens of an audience (claim profiles, e.g. for Apache Airflow)", "claim profile",
		newProfilesListCmd(),
		newProfilesShowCmd(),
		newProfilesSetCmd(),
		newProfilesDeleteCmd(),
	)
}

func newProfilesListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the claim profiles", Args: noArgs}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			list, err := app.Core().ListClaimProfiles(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AUDIENCE\tSUBJECT\tBUILTIN\tCLAIMS\tVISIBLE ROLES")
			for _, p := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Audience, p.Subject, orDash(p.Builtin), claimsText(p.Claims), listText(p.VisibleRoles))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newProfilesShowCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "show AUDIENCE", Short: "Show the claim profile of an audience", Args: exactArgs(1, "exactly one audience")}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			p, err := app.Core().ClaimProfile(ctx, args[0])
			if err != nil {
				return err
			}
			return printProfile(cmd.OutOrStdout(), p)
		})
	}
	return cmd
}

func newProfilesSetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set AUDIENCE [--builtin airflow] [--subject id|username] [--claim NAME=SOURCE[:VALUE]]...",
		Short: "Create or replace the claim profile of an audience",
		Long: `Create or replace the claim profile of an audience: every setting not given
takes its default (the built-in's, if --builtin names one). Sources of --claim:
role (one role name, see --role-order), roles, email, name (display name),
username (a service client's client id), constant:VALUE. Roles are matched
case-insensitively. Every replica applies the profile within its poll interval.`,
		Example: `  gatehouse profiles set gatehouse --builtin airflow
  gatehouse profiles set https://airflow.example.com --builtin airflow --role-order admin,op,user,viewer
  gatehouse profiles set reports --subject username --claim group=role --claim tenant=constant:acme --visible-roles viewer,editor`,
		Args: exactArgs(1, "exactly one audience"),
	}
	var (
		spec   core.ProfileSpec
		claims claimList
	)
	fs := cmd.Flags()
	fs.Var((*stringValue)(&spec.Builtin), "builtin", "start from a built-in profile: "+strings.Join(core.Builtins(), ", "))
	fs.Var((*stringValue)(&spec.Subject), "subject", "what sub carries: id (the account id) or username (a client's client id); default id, or the built-in's")
	fs.Var(&claims, "claim", "add a claim NAME=SOURCE[:VALUE] (repeatable); one named like a built-in claim replaces it")
	fs.Var((*listValue)(&spec.RoleOrder), "role-order", "comma-separated role order of the role claims (airflow default: "+strings.Join(core.AirflowRoleOrder(), ",")+")")
	fs.Var((*listValue)(&spec.VisibleRoles), "visible-roles", "comma-separated roles that may appear in roles and role claims (default all)")
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		spec.Audience, spec.Claims = args[0], claims
		// Validate before opening the database.
		if _, err := core.ExpandProfile(spec); err != nil {
			return err
		}
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			p, err := app.Core().PutClaimProfile(ctx, spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "set the claim profile of %s\n", p.Audience)
			return printProfile(cmd.OutOrStdout(), p)
		})
	}
	return cmd
}

func newProfilesDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "delete AUDIENCE", Short: "Delete the claim profile of an audience", Args: exactArgs(1, "exactly one audience")}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			if err := app.Core().DeleteClaimProfile(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted the claim profile of %s\n", args[0])
			return nil
		})
	}
	return cmd
}

// printProfile shows every setting of one profile.
func printProfile(w io.Writer, p store.ClaimProfile) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"audience", p.Audience},
		{"builtin", orDash(p.Builtin)},
		{"subject", p.Subject},
	}
	for _, c := range p.Claims {
		rows = append(rows, [2]string{"claim " + c.Name, claimText(c)})
	}
	rows = append(rows,
		[2]string{"visible_roles", listText(p.VisibleRoles)},
		[2]string{"updated", p.UpdatedAt.Format(time.RFC3339)},
	)
	for _, row := range rows {
		fmt.Fprintf(tw, "  %s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// claimText is a claim's source as --claim takes it, and its role order.
func claimText(c store.ProfileClaim) string {
	s := c.Source
	if c.Source == core.SourceConstant {
		s += ":" + c.Value
	}
	if len(c.RoleOrder) > 0 {
		s += " (order " + strings.Join(c.RoleOrder, ",") + ")"
	}
	return s
}

func claimsText(cs []store.ProfileClaim) string {
	if len(cs) == 0 {
		return "-"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Name + "=" + claimText(c)
	}
	return strings.Join(parts, "; ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// claimList collects --claim NAME=SOURCE[:VALUE]. Names hold no '=' and
// sources no ':', so the first '=' ends the name and the first ':' after it
// the source; the value may hold either.
type claimList []store.ProfileClaim

func (l *claimList) String() string {
	if len(*l) == 0 {
		return "" // no default shown in help
	}
	return claimsText(*l)
}
func (l *claimList) Type() string { return "NAME=SOURCE[:VALUE]" }
func (l *claimList) Set(s string) error {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" || rest == "" {
		return fmt.Errorf("want NAME=SOURCE[:VALUE], got %q", s)
	}
	source, value, _ := strings.Cut(rest, ":")
	*l = append(*l, store.ProfileClaim{Name: name, Source: source, Value: value})
	return nil
}
