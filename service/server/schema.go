package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"entgo.io/ent/dialect"

	"github.com/gatehouse/gatehouse/store"
)

// prepareSchema decides what happens to a database whose schema is not at
// this binary's version. An empty database is set up by `serve`. One that is
// behind is migrated by `serve` when AutoMigrate says so (by default on
// SQLite, a single node, and not on PostgreSQL, where replicas of the older
// release may still run and an operator runs `gatehouse migrate up`). Other
// roles (the CLI) never change the schema. A database migrated by a newer
// release is used as it is: migrations only ever add.
func prepareSchema(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) error {
	status, err := st.SchemaStatus(ctx)
	if err != nil {
		return fmt.Errorf("read the database schema version: %w", err)
	}
	if len(status.Unknown) > 0 {
		log.Info("the database schema is newer than this gatehouse; running on it (migrations only add)",
			"database_version", status.Current, "newest_known_version", status.Latest)
	}
	if status.UpToDate() {
		return nil
	}
	if cfg.Role != RoleServe {
		if status.Empty {
			return errNoSchema
		}
		return fmt.Errorf("%w: run `gatehouse migrate up` first (other commands never change the schema)", &store.SchemaBehindError{Status: status})
	}
	if !status.Empty && !autoMigrate(cfg.AutoMigrate, st.Dialect()) {
		return fmt.Errorf("%w: run `gatehouse migrate up` (once, from any host; replicas of the previous release keep working), or start with --auto-migrate", &store.SchemaBehindError{Status: status})
	}
	applied, err := st.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate the database schema: %w", err)
	}
	if len(applied) > 0 {
		log.Info("database schema migrated", "from", status.CurrentName(), "to", status.Latest, "applied", applied)
	}
	return nil
}

// errNoSchema is what commands other than serve and migrate say on a
// database gatehouse has not set up.
var errNoSchema = errors.New("the database has no gatehouse schema yet: start `gatehouse serve` once, or run `gatehouse migrate up`")

// autoMigrate is the effective --auto-migrate: as given, or by default on
// SQLite only.
func autoMigrate(flag *bool, d string) bool {
	if flag != nil {
		return *flag
	}
	return d == dialect.SQLite
}
