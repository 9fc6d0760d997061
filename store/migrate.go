package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"
)

// The versioned migrations, one Atlas-format directory per database, written
// by `go run ./store/internal/migrategen` from the ent schema and checked by
// CI. Each release only adds (expand); what the previous release reads is
// dropped at the earliest one release later (contract), so old and new
// replicas can share a database during a rolling upgrade.
//
//go:embed migrations/sqlite migrations/postgres
var migrationFiles embed.FS

// revisionsTable records the applied migrations.
const revisionsTable = "gatehouse_schema_revisions"

// migrationLockID is the PostgreSQL advisory lock key of schema migrations.
const migrationLockID = 0x67617465686f7573 // "gatehous"

// SchemaStatus is where a database's schema stands relative to this binary.
type SchemaStatus struct {
	Dialect string `json:"dialect"`
	// Current is the newest applied migration ("" when none is).
	Current string `json:"current"`
	// Latest is the newest migration this binary carries.
	Latest string `json:"latest"`
	// Pending are the migrations this binary would apply, oldest first.
	Pending []string `json:"pending"`
	// Unknown are applied migrations this binary does not carry: a newer
	// release migrated the database. Expand-then-contract keeps it usable.
	Unknown []string `json:"unknown,omitempty"`
	// Empty means the database holds no gatehouse table yet.
	Empty bool `json:"empty"`
	// Unversioned means the tables were made by a release that migrated
	// implicitly; they are adopted as the first (baseline) migration.
	Unversioned bool `json:"unversioned"`
}

// UpToDate reports whether this binary can use the database as it is.
func (st SchemaStatus) UpToDate() bool { return len(st.Pending) == 0 && !st.Empty }

// CurrentName names Current for messages.
func (st SchemaStatus) CurrentName() string {
	switch {
	case st.Empty:
		return "empty (no schema)"
	case st.Unversioned:
		return "unversioned (a release before versioned migrations)"
	}
	return st.Current
}

// SchemaBehindError is returned by Open with WithoutMigration's callers'
// checks, and by CheckSchema, for a database this binary must migrate first.
type SchemaBehindError struct{ Status SchemaStatus }

func (e *SchemaBehindError) Error() string {
	return fmt.Sprintf("the database schema is at %s, this gatehouse needs %s (%d pending migration(s))",
		e.Status.CurrentName(), e.Status.Latest, len(e.Status.Pending))
}

// migrationDir returns the embedded migration directory of dialect d.
func migrationDir(d string) (*atlasmigrate.MemDir, error) {
	name := "sqlite"
	if d == dialect.Postgres {
		name = "postgres"
	}
	root := path.Join("migrations", name)
	entries, err := fs.ReadDir(migrationFiles, root)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	dir := &atlasmigrate.MemDir{}
	for _, e := range entries {
		b, err := migrationFiles.ReadFile(path.Join(root, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migrations: %w", err)
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	if err := atlasmigrate.Validate(dir); err != nil {
		return nil, fmt.Errorf("embedded migrations: %w", err)
	}
	return dir, nil
}

// querier is what the migration code needs of a *sql.DB, *sql.Conn or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// SchemaStatus reads where the database's schema stands. It changes nothing.
func (s *Store) SchemaStatus(ctx context.Context) (SchemaStatus, error) {
	dir, err := migrationDir(s.dialect)
	if err != nil {
		return SchemaStatus{}, err
	}
	return s.schemaStatus(ctx, s.db, dir)
}

func (s *Store) schemaStatus(ctx context.Context, q querier, dir *atlasmigrate.MemDir) (SchemaStatus, error) {
	st := SchemaStatus{Dialect: s.dialect}
	files, err := dir.Files()
	if err != nil {
		return st, err
	}
	if len(files) > 0 {
		st.Latest = files[len(files)-1].Version()
	}
	applied, err := s.appliedVersions(ctx, q)
	if err != nil {
		return st, err
	}
	if applied == nil {
		hasTables, err := s.tableExists(ctx, q, "accounts")
		if err != nil {
			return st, err
		}
		st.Empty, st.Unversioned = !hasTables, hasTables
	}
	known := map[string]bool{}
	for _, f := range files {
		known[f.Version()] = true
		if !slices.Contains(applied, f.Version()) && !(st.Unversioned && f == files[0]) {
			st.Pending = append(st.Pending, f.Version())
		}
	}
	for _, v := range applied {
		if !known[v] {
			st.Unknown = append(st.Unknown, v)
		}
	}
	if len(applied) > 0 {
		st.Current = applied[len(applied)-1]
	}
	if st.Unversioned {
		// Adopting the tables is a step that writes the baseline revision.
		st.Pending = append([]string{files[0].Version()}, st.Pending...)
	}
	return st, nil
}

// appliedVersions returns the fully applied migrations in order, or nil when
// the revisions table does not exist.
func (s *Store) appliedVersions(ctx context.Context, q querier) ([]string, error) {
	ok, err := s.tableExists(ctx, q, revisionsTable)
	if err != nil || !ok {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, "SELECT version FROM "+revisionsTable+" WHERE applied = total ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	defer rows.Close()
	versions := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		versions = append(versions, v)
	}
	return versions, rows.Err()
}

func (s *Store) tableExists(ctx context.Context, q querier, name string) (bool, error) {
	query := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if s.dialect == dialect.Postgres {
		query = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
	}
	var n int
	if err := q.QueryRowContext(ctx, query, name).Scan(&n); err != nil {
		return false, fmt.Errorf("inspect schema: %w", s.classify(ctx, err))
	}
	return n > 0, nil
}

// Migrate applies the pending migrations in one transaction, under a lock
// that makes replicas starting together apply them once (PostgreSQL: an
// advisory lock; SQLite: the write lock). Tables of a release before
// versioned migrations are checked against the first migration and adopted
// as its baseline. It returns the versions it applied.
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	dir, err := migrationDir(s.dialect)
	if err != nil {
		return nil, err
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	defer conn.Close()
	if s.dialect == dialect.SQLite {
		// SQLite changes a table by copying it; foreign keys must be off
		// for that, which cannot be switched inside a transaction.
		if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = off"); err != nil {
			return nil, err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = on")
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.classify(ctx, err)
	}
	defer tx.Rollback()
	if s.dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockID); err != nil {
			return nil, fmt.Errorf("take the migration lock: %w", s.classify(ctx, err))
		}
	}
	st, err := s.schemaStatus(ctx, tx, dir)
	if err != nil {
		return nil, err
	}
	if len(st.Pending) == 0 {
		return nil, nil
	}
	var drv atlasmigrate.Driver
	if s.dialect == dialect.Postgres {
		drv, err = postgres.Open(tx)
	} else {
		drv, err = sqlite.Open(tx)
	}
	if err != nil {
		return nil, err
	}
	var opts []atlasmigrate.ExecutorOption
	switch {
	case st.Unversioned:
		files, err := dir.Files()
		if err != nil {
			return nil, err
		}
		if err := s.checkBaseline(ctx, tx, drv, files[0]); err != nil {
			return nil, err
		}
		opts = append(opts, atlasmigrate.WithBaselineVersion(files[0].Version()))
		applied = append(applied, files[0].Version())
	case st.Empty:
		// Only gatehouse's own tables count: a PostgreSQL database may hold
		// other schemas.
		opts = append(opts, atlasmigrate.WithAllowDirty(true))
	}
	rrw := &revisions{q: tx, dialect: s.dialect}
	if err := rrw.create(ctx); err != nil {
		return nil, err
	}
	ex, err := atlasmigrate.NewExecutor(drv, dir, rrw, opts...)
	if err != nil {
		return nil, err
	}
	pending, err := ex.Pending(ctx)
	if err != nil && !errors.Is(err, atlasmigrate.ErrNoPendingFiles) {
		return nil, fmt.Errorf("plan migrations: %w", err)
	}
	for _, f := range pending {
		if err := ex.Execute(ctx, f); err != nil {
			return nil, fmt.Errorf("apply migration %s: %w", f.Name(), err)
		}
		applied = append(applied, f.Version())
	}
	if s.dialect == dialect.SQLite {
		if err := foreignKeyCheck(ctx, tx); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit migrations: %w", s.classify(ctx, err))
	}
	return applied, nil
}

// foreignKeyCheck refuses a migration that left rows pointing nowhere
// (foreign keys were off while it ran).
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		return errors.New("migration left rows that violate a foreign key; nothing was changed")
	}
	return rows.Err()
}

// checkBaseline makes sure tables found without revisions are gatehouse's:
// every table and column the first migration creates must exist. Extra
// columns or indexes (left by older releases) are kept.
func (s *Store) checkBaseline(ctx context.Context, tx *sql.Tx, drv atlasmigrate.Driver, baseline atlasmigrate.File) error {
	have, err := drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return fmt.Errorf("inspect schema: %w", err)
	}
	want, err := s.baselineSchema(ctx, tx, baseline)
	if err != nil {
		return fmt.Errorf("read the baseline migration: %w", err)
	}
	var missing []string
	for _, t := range want.Tables {
		ht, ok := have.Table(t.Name)
		if !ok {
			missing = append(missing, "table "+t.Name)
			continue
		}
		for _, c := range t.Columns {
			if _, ok := ht.Column(c.Name); !ok {
				missing = append(missing, "column "+t.Name+"."+c.Name)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the database has gatehouse tables without migration history, but not those of %s (missing %s); it was not made by a gatehouse release this version upgrades from",
			baseline.Name(), strings.Join(missing, ", "))
	}
	return nil
}

// baselineSchema runs the baseline migration where it leaves no trace and
// inspects the result: on PostgreSQL in a scratch schema inside a savepoint
// that is rolled back, on SQLite in a private in-memory database.
func (s *Store) baselineSchema(ctx context.Context, tx *sql.Tx, f atlasmigrate.File) (*schema.Schema, error) {
	stmts, err := f.Stmts()
	if err != nil {
		return nil, err
	}
	if s.dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT gatehouse_baseline"); err != nil {
			return nil, err
		}
		defer tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT gatehouse_baseline")
		const scratch = "gatehouse_baseline_check"
		for _, q := range append([]string{"CREATE SCHEMA " + scratch, "SET LOCAL search_path TO " + scratch}, stmts...) {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return nil, err
			}
		}
		drv, err := postgres.Open(tx)
		if err != nil {
			return nil, err
		}
		return drv.InspectSchema(ctx, scratch, nil)
	}
	b := make([]byte, 8)
	rand.Read(b)
	db, err := sql.Open("sqlite", "file:baseline-"+hex.EncodeToString(b)+"?mode=memory")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return nil, err
		}
	}
	drv, err := sqlite.Open(db)
	if err != nil {
		return nil, err
	}
	return drv.InspectSchema(ctx, "", nil)
}
