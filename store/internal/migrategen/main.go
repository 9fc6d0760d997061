// Command migrategen writes gatehouse's versioned schema migrations: for
// SQLite and for PostgreSQL it replays store/migrations/<dialect> on an empty
// scratch database, compares the result with the ent schema (store/schema)
// and, when they differ, writes the statements that close the gap as a new
// Atlas-format file plus the directory's atlas.sum. It uses ent's and
// Atlas's Go APIs only (no external CLI). With nothing to do it writes
// nothing, so CI runs it and fails when the tree changes.
//
// Usage (from the repository root):
//
//	go run ./store/internal/migrategen [-name add_audit_events]
//
// The PostgreSQL scratch database is created and dropped on the server named
// by GATEHOUSE_MIGRATE_DEV_POSTGRES (default: the local trust-auth server).
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/gatehouse/gatehouse/store/ent/migrate"
)

func main() {
	dir := flag.String("dir", "store/migrations", "directory holding one migration directory per dialect")
	name := flag.String("name", "changes", "name of a new migration file (after its version)")
	pg := flag.String("postgres", envOr("GATEHOUSE_MIGRATE_DEV_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server on which a scratch database is created and dropped")
	flag.Parse()
	ctx := context.Background()
	sqliteDir, pgDir := filepath.Join(*dir, "sqlite"), filepath.Join(*dir, "postgres")
	before := files(sqliteDir)
	if err := sqliteDiff(ctx, sqliteDir, *name); err != nil {
		fail("sqlite", err)
	}
	pgBefore := files(pgDir)
	if err := postgresDiff(ctx, pgDir, *name, *pg); err != nil {
		fail("postgres", err)
	}
	// ent names a file by the second it was planned in; one change gets one
	// version on both databases, so that `migrate status` reads the same.
	if s, p := added(before, files(sqliteDir)), added(pgBefore, files(pgDir)); s != "" && p != "" && s != p {
		if err := rename(pgDir, p, s); err != nil {
			fail("postgres", err)
		}
	}
}

// files lists the migration files of dir.
func files(dir string) map[string]bool {
	m := map[string]bool{}
	names, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
	for _, n := range names {
		m[filepath.Base(n)] = true
	}
	return m
}

// added returns the file name in after but not in before ("" if none).
func added(before, after map[string]bool) string {
	for n := range after {
		if !before[n] {
			return n
		}
	}
	return ""
}

// rename gives the file from the version of the file to, and rewrites the
// directory's atlas.sum.
func rename(dirPath, from, to string) error {
	if err := os.Rename(filepath.Join(dirPath, from), filepath.Join(dirPath, to)); err != nil {
		return err
	}
	dir, err := atlasmigrate.NewLocalDir(dirPath)
	if err != nil {
		return err
	}
	sum, err := dir.Checksum()
	if err != nil {
		return err
	}
	return atlasmigrate.WriteSumFile(dir, sum)
}

func fail(d string, err error) {
	slog.Error("migrategen", "dialect", d, "err", err)
	os.Exit(1)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// diff writes the migration that brings dir up to the ent schema, using db
// (an empty database of dialect d) as the scratch database.
func diff(ctx context.Context, db *sql.DB, d, dirPath, name string) error {
	if err := os.MkdirAll(dirPath, 0o755); err != nil {
		return err
	}
	dir, err := atlasmigrate.NewLocalDir(dirPath)
	if err != nil {
		return err
	}
	m, err := schema.NewMigrate(entsql.OpenDB(d, db),
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(d),
		schema.WithFormatter(atlasmigrate.DefaultFormatter),
		// Drops are written when the schema asks for them; the
		// expand-then-contract test refuses them in a release that still
		// has readers of the old shape.
		schema.WithDropColumn(true),
		schema.WithDropIndex(true),
	)
	if err != nil {
		return err
	}
	return m.NamedDiff(ctx, name, migrate.Tables...)
}

func sqliteDiff(ctx context.Context, dir, name string) error {
	db, err := sql.Open("sqlite", "file:migrategen?mode=memory&_pragma=foreign_keys(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one in-memory database
	return diff(ctx, db, dialect.SQLite, dir, name)
}

func postgresDiff(ctx context.Context, dir, name, server string) error {
	admin, err := sql.Open("pgx", server)
	if err != nil {
		return err
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	scratch := "gatehouse_migrategen_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+scratch); err != nil {
		return fmt.Errorf("create scratch database (set GATEHOUSE_MIGRATE_DEV_POSTGRES): %w", err)
	}
	defer admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE "+scratch+" WITH (FORCE)")
	u, err := url.Parse(server)
	if err != nil {
		return err
	}
	u.Path = "/" + scratch
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	return diff(ctx, db, dialect.Postgres, dir, name)
}
