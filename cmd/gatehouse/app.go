package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service/server"
)

// adminOptions gives cmd the configuration flags of a command-line run
// against the database; its RunE passes the result to withApp.
func adminOptions(cmd *cobra.Command) *options {
	o := &options{}
	o.bind(cmd.Flags(), false)
	return o
}

// withApp completes the configuration from cmd's flags and environment,
// opens the database, runs fn and closes the database again.
func (o *options) withApp(cmd *cobra.Command, fn func(ctx context.Context, app *server.App) error) error {
	if err := o.finish(cmd.Flags()); err != nil {
		return err
	}
	log, err := o.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	app, err := server.Open(cmd.Context(), o.cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()
	return fn(cliActor(cmd.Context()), app)
}
