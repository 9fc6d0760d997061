package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/gatehouse/gatehouse/service/server"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	var o options
	fs := newFlagSet("serve", &o, true, stderr)
	if err := o.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("serve takes no arguments, got %q", fs.Args())
	}
	log, err := o.logger(stderr)
	if err != nil {
		return err
	}
	// Only serve stores the key policy and runs the key schedule.
	o.cfg.Role = server.RoleServe
	app, err := server.Open(ctx, o.cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	generated, err := app.Bootstrap(ctx, os.Getenv(envPrefix+"ADMIN_PASSWORD"))
	if err != nil {
		return err
	}
	if generated != "" {
		// Printed once, to the terminal only, never to the log.
		fmt.Fprintf(stderr, "\n  Created user \"admin\" with password: %s\n  It is shown only this once; change it with `gatehouse users set-password admin`.\n\n", generated)
	}
	grpcLis, httpLis, err := app.Listen()
	if err != nil {
		return err
	}
	return app.Serve(ctx, grpcLis, httpLis)
}
