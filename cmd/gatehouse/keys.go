package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
)

func newKeysCmd() *cobra.Command {
	return newGroup("keys", "Manage the signing keys and the key policy", "signing key",
		newKeysListCmd(), newKeysRotateCmd(), newKeysRevokeCmd(), newKeysRewrapCmd(), newKeyPolicyCmd())
}

func newKeysListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List the signing keys and their states", Args: noArgs}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			return printKeys(cmd.OutOrStdout())(app.Core().SigningKeys(ctx))
		})
	}
	return cmd
}

func newKeysRotateCmd() *cobra.Command {
	var now bool
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Publish a successor key (it signs after the publish lead time; --now: at once)",
		Args:  noArgs,
	}
	cmd.Flags().BoolVar(&now, "now", false, "sign with the new key at once instead of after the publish lead time")
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			return printKeys(cmd.OutOrStdout())(app.Core().RotateSigningKey(ctx, now))
		})
	}
	return cmd
}

func newKeysRevokeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke KID",
		Short: "Withdraw a key at once (after a leak); tokens it signed are refused",
		Args:  exactArgs(1, "exactly one key id"),
	}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			return printKeys(cmd.OutOrStdout())(app.Core().RevokeSigningKey(ctx, args[0]))
		})
	}
	return cmd
}

func newKeysRewrapCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rewrap",
		Short: "Re-seal all keys under GATEHOUSE_MASTER_KEY (the old key in GATEHOUSE_MASTER_KEY_PREVIOUS)",
		Args:  noArgs,
	}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			keys, settings, err := app.Keys().Rewrap(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-sealed %d signing keys and %d shared secrets under the primary master key\n", keys, settings)
			return nil
		})
	}
	return cmd
}

// printKeys returns a function that prints the key list a core call
// returned, or passes on its error.
func printKeys(w io.Writer) func([]store.SigningKey, error) error {
	return func(list []store.SigningKey, err error) error {
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATES/ACTIVATED\tRETIRED")
		for _, k := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, stamp(k.CreatedAt), stamp(k.ActivatedAt), stamp(k.RetiredAt))
		}
		return tw.Flush()
	}
}

// newKeyPolicyCmd shows (`keys policy`) the key policy stored in the
// database, which every server uses; `keys policy set` changes it.
func newKeyPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show the key policy stored in the database (every server uses it)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("keys policy takes no arguments, got %q (to change it: keys policy set --key-publish-lead 3h ...)", args)
			}
			return nil
		},
	}
	o := adminOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			p, err := app.Keys().Policy(ctx)
			if err != nil {
				return err
			}
			return printPolicy(cmd.OutOrStdout(), p)
		})
	}
	cmd.AddCommand(newKeyPolicySetCmd())
	return cmd
}

// newKeyPolicySetCmd changes only the settings given on its command line,
// not those in the environment, so that it changes nothing by accident.
func newKeyPolicySetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "set",
		Short:   "Change the stored key policy",
		Example: `  gatehouse keys policy set --key-publish-lead 3h --key-rotation-interval 720h`,
		Args:    noArgs,
	}
	o := adminOptions(cmd)
	for _, name := range keyPolicyFlags {
		cmd.Flags().Lookup(name).Hidden = false
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.finish(cmd.Flags()); err != nil {
			return err
		}
		var ch keys.PolicyChange
		fs := cmd.Flags()
		if fs.Changed("signing-alg") {
			ch.Alg = o.cfg.SigningAlg
		}
		if fs.Changed("rsa-bits") {
			ch.RSABits = o.cfg.RSABits
		}
		if fs.Changed("key-rotation-interval") {
			ch.RotationInterval = &o.cfg.KeyRotation.RotationInterval
		}
		if fs.Changed("key-publish-lead") {
			ch.PublishLead = &o.cfg.KeyRotation.PublishLead
		}
		if ch == (keys.PolicyChange{}) {
			return usageErr("keys policy set needs at least one of --signing-alg, --rsa-bits, --key-rotation-interval, --key-publish-lead")
		}
		return o.withApp(cmd, func(ctx context.Context, app *server.App) error {
			before, p, err := app.Keys().SetPolicy(ctx, ch)
			if err != nil {
				return err
			}
			if before == p {
				fmt.Fprintln(cmd.OutOrStdout(), "the key policy is unchanged")
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "key policy changed from: %s\n", before)
			}
			return printPolicy(cmd.OutOrStdout(), p)
		})
	}
	return cmd
}

func printPolicy(w io.Writer, p keys.StoredPolicy) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "signing-alg\t%s\n", p.Alg)
	fmt.Fprintf(tw, "rsa-bits\t%d\n", p.RSABits)
	fmt.Fprintf(tw, "key-rotation-interval\t%s\n", p.RotationInterval)
	fmt.Fprintf(tw, "key-publish-lead\t%s\n", p.PublishLead)
	fmt.Fprintf(tw, "retired-key-retention\t%s\t(longest token lifetime + leeway + 1m any server has used)\n", p.RetainRetired)
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}
