package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service/gctune"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/service/telemetry"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gRPC and HTTP servers",
		Example: `  gatehouse serve --data-dir /var/lib/gatehouse --issuer https://auth.example.com
  GATEHOUSE_DATABASE_URL=postgres://... GATEHOUSE_MASTER_KEY=... gatehouse serve --auto-migrate`,
		Args: noArgs,
	}
	o := serveOptions(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.finish(cmd.Flags()); err != nil {
			return err
		}
		return serve(cmd, o)
	}
	return cmd
}

// serveOptions gives cmd every configuration flag, the server's included.
func serveOptions(cmd *cobra.Command) *options {
	o := &options{}
	o.bind(cmd.Flags(), true)
	return o
}

// serve runs the server until ctx ends.
func serve(cmd *cobra.Command, o *options) error {
	ctx, stderr, cfg := cmd.Context(), cmd.ErrOrStderr(), &o.cfg
	log, logOut, err := o.bufferedLogger(stderr)
	if err != nil {
		return err
	}
	defer logOut.Close()
	// Only serve stores the key policy and runs the key schedule.
	cfg.Role = server.RoleServe
	// Traces go where the standard OTEL_* variables say (nowhere by default).
	tr, err := telemetry.NewTracing(ctx)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		if err := tr.Shutdown(context.WithoutCancel(ctx)); err != nil {
			log.Warn("tracing did not flush its spans", "err", err)
		}
	}()
	if exp := tr.Exporter(); exp != "" && exp != "none" {
		log.Info("tracing on", "exporter", exp)
	}
	cfg.Tracing = tr
	cfg.GCHeadroom = gcHeadroom(os.LookupEnv)
	app, err := server.Open(ctx, *cfg, log)
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
		logOut.Flush() // the notice below must not hide among earlier lines
		// Printed once, to the terminal only, never to the log.
		fmt.Fprintf(stderr, "\n  Created user \"admin\" with password: %s\n  It is also in %s; delete that file after the first login. Change the password with `gatehouse users set-password admin`.\n\n", generated, filepath.Join(cfg.DataDir, server.AdminPasswordFile))
	}
	return app.Serve(ctx, grpcLis, httpLis)
}

// gcHeadroom is the heap growth serve lets the GC tuner keep between
// collections: gctune.DefaultHeadroom unless the operator set GOGC, whose
// value (including "off") then stands as Go reads it.
func gcHeadroom(lookupEnv func(string) (string, bool)) uint64 {
	if _, set := lookupEnv("GOGC"); set {
		return 0
	}
	return gctune.DefaultHeadroom
}
