package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func signingKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("keys needs a subcommand: list, rotate, revoke, rewrap")
	}
	sub, args := args[0], args[1:]
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
		list, err = c.SigningKeysUnchecked(ctx)
	case "rotate":
		list, err = c.RotateSigningKeyUnchecked(ctx, now)
	case "revoke":
		list, err = c.RevokeSigningKeyUnchecked(ctx, fs.Arg(0))
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

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}
