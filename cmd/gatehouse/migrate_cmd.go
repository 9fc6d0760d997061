package main

import (
	"github.com/spf13/cobra"
)

// newMigrateCmd wires `gatehouse migrate` to migrate.go. The commands take
// the shared database flags; like every command but serve they open the
// database in the admin role.
func newMigrateCmd() *cobra.Command {
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the database's schema version and the migrations this binary would apply",
		Args:  noArgs,
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	statusOpts := adminOptions(status)
	status.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := statusOpts.finish(cmd.Flags()); err != nil {
			return err
		}
		return runMigrateStatus(cmd.Context(), statusOpts.cfg, cmd.OutOrStdout(), asJSON)
	}

	up := &cobra.Command{
		Use:     "up",
		Short:   "Apply the pending schema migrations",
		Example: `  GATEHOUSE_DATABASE_URL=postgres://... gatehouse migrate up`,
		Args:    noArgs,
	}
	upOpts := adminOptions(up)
	up.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := upOpts.finish(cmd.Flags()); err != nil {
			return err
		}
		return runMigrateUp(cmd.Context(), upOpts.cfg, cmd.OutOrStdout())
	}
	return newGroup("migrate", "Inspect and apply database schema migrations", "", status, up)
}
