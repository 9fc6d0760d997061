package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	// Bind both ports before creating the admin: a serve that cannot listen
	// must not create an admin whose generated password nobody will see.
	grpcLis, httpLis, err := app.Listen()
	if err != nil {
		return err
	}
	generated, err := app.Bootstrap(ctx, os.Getenv(envPrefix+"ADMIN_PASSWORD"))
	if err != nil {
		grpcLis.Close()
		httpLis.Close()
		return err
	}
	if generated != "" {
		// Printed once, to the terminal only, never to the log.
		fmt.Fprintf(stderr, "\n  Created user \"admin\" with password: %s\n  It is also in %s; delete that file after the first login. Change the password with `gatehouse users set-password admin`.\n\n", generated, filepath.Join(o.cfg.DataDir, server.AdminPasswordFile))
	}
	return app.Serve(ctx, grpcLis, httpLis)
}
