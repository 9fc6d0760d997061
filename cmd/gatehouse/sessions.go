package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
)

func newSessionsCmd() *cobra.Command {
	return newGroup("sessions", "Inspect and end users' refresh-token sessions", "session",
		newSessionsListCmd(), newSessionsRevokeCmd(), newSessionsRevokeAllCmd())
}

func newSessionsListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "list USERNAME",
		Short:       "List a user's live sessions and offline tokens (metadata only)",
		Args:        exactArgs(1, "exactly one username"),
		Annotations: map[string]string{annotationNoun: "user"},
	}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			c := app.Core()
			a, err := c.FindAccount(ctx, store.KindUser, args[0])
			if err != nil {
				return err
			}
			list, err := c.ListSessions(ctx, a.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SESSION\tCLIENT\tSCOPE\tOFFLINE\tCREATED\tLAST USED\tEXPIRES")
			for _, s := range list {
				expires := "never"
				if !s.ExpiresAt.IsZero() {
					expires = s.ExpiresAt.Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\t%s\n", s.ID, s.ClientID, s.Scope, s.Offline, s.CreatedAt.Format(time.DateTime), s.LastUsedAt.Format(time.DateTime), expires)
			}
			return tw.Flush()
		})
	}
	return cmd
}

func newSessionsRevokeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke SESSION_ID",
		Short: "End one session",
		Args:  exactArgs(1, "exactly one session id"),
	}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			if err := app.Core().RevokeSession(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked session %s\n", args[0])
			return nil
		})
	}
	return cmd
}

func newSessionsRevokeAllCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:         "revoke-all USERNAME",
		Short:       "End every session and access token of a user",
		Args:        exactArgs(1, "exactly one username"),
		Annotations: map[string]string{annotationNoun: "user"},
	}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			c := app.Core()
			a, err := c.FindAccount(ctx, store.KindUser, args[0])
			if err != nil {
				return err
			}
			n, err := c.RevokeAllSessions(ctx, a.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %d sessions of %s and every access token issued to it so far\n", n, a.Username)
			return nil
		})
	}
	return cmd
}
