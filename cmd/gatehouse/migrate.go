package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse/gatehouse/service/server"
)

// runMigrateStatus prints the database's schema version and the migrations
// this binary would apply (`gatehouse migrate status`). It changes nothing.
func runMigrateStatus(ctx context.Context, cfg server.Config, stdout io.Writer, asJSON bool) error {
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	status, err := st.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		if status.Pending == nil {
			status.Pending = []string{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(status)
	}
	pending := "none"
	if len(status.Pending) > 0 {
		pending = strings.Join(status.Pending, ", ") + " (apply with `gatehouse migrate up`)"
	}
	fmt.Fprintf(stdout, "database:  %s\ncurrent:   %s\nlatest:    %s\npending:   %s\n", status.Dialect, status.CurrentName(), status.Latest, pending)
	if len(status.Unknown) > 0 {
		fmt.Fprintf(stdout, "newer:     %s (applied by a newer gatehouse; this one runs on it)\n", strings.Join(status.Unknown, ", "))
	}
	return nil
}

// runMigrateUp applies the pending migrations (`gatehouse migrate up`). Run
// from one place while the previous release still serves: migrations only
// add, and the advisory lock makes a concurrent start of a new replica wait.
func runMigrateUp(ctx context.Context, cfg server.Config, stdout io.Writer) error {
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	before, err := st.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w (nothing was changed)", err)
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "the schema is up to date (%s)\n", before.CurrentName())
		return nil
	}
	if before.Unversioned {
		fmt.Fprintf(stdout, "adopted the existing tables as %s\n", applied[0])
		applied = applied[1:]
	}
	for _, v := range applied {
		fmt.Fprintf(stdout, "applied %s\n", v)
	}
	fmt.Fprintf(stdout, "the schema is at %s\n", before.Latest)
	return nil
}
