package main

import (
	"context"
	"errors"
	"io"

	"github.com/gatehouse/gatehouse/service/server"
)

// runMigrateStatus prints the database's schema version and the migrations
// this binary would apply (`gatehouse migrate status`).
func runMigrateStatus(ctx context.Context, cfg server.Config, stdout io.Writer, asJSON bool) error {
	return errors.New("migrate status: not yet available")
}

// runMigrateUp applies the pending migrations (`gatehouse migrate up`).
func runMigrateUp(ctx context.Context, cfg server.Config, stdout io.Writer) error {
	return errors.New("migrate up: not yet available")
}
