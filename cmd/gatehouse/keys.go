package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/store"
)

func signingKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("keys needs a subcommand: list, rotate, revoke, rewrap, policy")
	}
	sub, args := args[0], args[1:]
	if sub == "policy" {
		return keyPolicy(ctx, args, stdout, stderr)
	}
	var o options
	fs := newFlagSet("keys "+sub, &o, false, stderr)
	var now bool
	if sub == "rotate" {
		fs.BoolVar(&now, "now", false, "sign with the new key at once instead of after the publish lead time")
	}
	if err := o.parse(fs, args); err != nil {
		return err
	}
	wantArgs := map[string]int{"list": 0, "rotate": 0, "revoke": 1, "rewrap": 0}
	n, ok := wantArgs[sub]
	if !ok {
		return usageErr("unknown keys subcommand %q", sub)
	}
	if fs.NArg() != n {
		return usageErr("keys %s takes %d argument(s)", sub, n)
	}
	app, err := openApp(ctx, &o, stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	c := app.Core()
	var list []store.SigningKey
	switch sub {
	case "list":
		list, err = c.SigningKeys(ctx)
	case "rotate":
		list, err = c.RotateSigningKey(ctx, now)
	case "revoke":
		list, err = c.RevokeSigningKey(ctx, fs.Arg(0))
	case "rewrap":
		keys, settings, err := app.Keys().Rewrap(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "re-sealed %d signing keys and %d shared secrets under the primary master key\n", keys, settings)
		return nil
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATES/ACTIVATED\tRETIRED")
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, stamp(k.CreatedAt), stamp(k.ActivatedAt), stamp(k.RetiredAt))
	}
	return tw.Flush()
}

// keyPolicy shows (`keys policy`) or changes (`keys policy set`) the key
// policy stored in the database. set takes only the flags given on its
// command line (not the environment), so that it changes nothing by
// accident.
func keyPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	set := len(args) > 0 && args[0] == "set"
	if set {
		args = args[1:]
	}
	var o options
	fs := newFlagSet("keys policy", &o, false, stderr)
	if err := o.parse(fs, args); err != nil {
		return err
	}
	if !set && fs.NArg() > 0 && fs.Arg(0) == "set" {
		// `keys policy --database-url U set --key-publish-lead 3h`
		set = true
		if err := o.parse(fs, fs.Args()[1:]); err != nil {
			return err
		}
	}
	if fs.NArg() > 0 {
		return usageErr("keys policy takes no arguments, got %q (to change it: keys policy set --key-publish-lead 3h ...)", fs.Args())
	}
	var ch keys.PolicyChange
	if set {
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "signing-alg":
				ch.Alg = o.cfg.SigningAlg
			case "rsa-bits":
				ch.RSABits = o.cfg.RSABits
			case "key-rotation-interval":
				ch.RotationInterval = &o.cfg.KeyRotation.RotationInterval
			case "key-publish-lead":
				ch.PublishLead = &o.cfg.KeyRotation.PublishLead
			}
		})
		if ch == (keys.PolicyChange{}) {
			return usageErr("keys policy set needs at least one of --signing-alg, --rsa-bits, --key-rotation-interval, --key-publish-lead")
		}
	}
	app, err := openApp(ctx, &o, stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	var p keys.StoredPolicy
	if set {
		var before keys.StoredPolicy
		if before, p, err = app.Keys().SetPolicy(ctx, ch); err != nil {
			return err
		}
		if before == p {
			fmt.Fprintln(stdout, "the key policy is unchanged")
		} else {
			fmt.Fprintf(stdout, "key policy changed from: %s\n", before)
		}
	} else if p, err = app.Keys().Policy(ctx); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
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
