package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	atlasmigrate "ariga.io/atlas/sql/migrate"
	atlasschema "ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/ent/migrate"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// entTablesMu guards ent's package-level table definitions, which its
// migration planner mutates.
var entTablesMu sync.Mutex

// TestMigrationsMatchSchema applies the migration files to an empty database
// and asks ent for the difference to the schema: there must be none, so the
// ent schema and store/migrations cannot disagree.
func TestMigrationsMatchSchema(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.DSN(t)
			s, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			db, d := rawDB(t, b.Name, dsn)
			dir := &atlasmigrate.MemDir{}
			entTablesMu.Lock()
			defer entTablesMu.Unlock()
			m, err := schema.NewMigrate(entsql.OpenDB(d, db), schema.WithDir(dir), schema.WithDialect(d),
				schema.WithDropColumn(true), schema.WithDropIndex(true), schema.WithFormatter(atlasmigrate.DefaultFormatter))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.NamedDiff(ctx, "drift", migrate.Tables...); err != nil {
				t.Fatal(err)
			}
			files, _ := dir.Files()
			for _, f := range files {
				t.Errorf("store/schema and store/migrations differ; run `go run ./store/internal/migrategen -name NAME` and commit. Missing:\n%s", f.Bytes())
			}
		})
	}
}

func rawDB(t *testing.T, backend, dsn string) (*sql.DB, string) {
	t.Helper()
	d := dialect.Postgres
	if backend == "sqlite" {
		d = dialect.SQLite
	}
	return storetest.OpenRaw(t, backend, dsn), d
}

// TestMigrationsExpandOnly replays the migrations one by one: none may drop
// or rename a table or column that the one before it had, because the
// previous release still reads them during a rolling upgrade. (SQLite's
// table rebuilds drop and rename a copy; the replay sees through that.)
func TestMigrationsExpandOnly(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:expand-only?mode=memory")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	drv, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	files := migrationFiles(t, "sqlite")
	var before *atlasschema.Schema
	for _, f := range files {
		for _, stmt := range stmts(t, f) {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
		}
		after, err := drv.InspectSchema(ctx, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if before != nil {
			for _, tb := range before.Tables {
				at, ok := after.Table(tb.Name)
				if !ok {
					t.Errorf("%s drops table %s that the previous release reads", f.name, tb.Name)
					continue
				}
				for _, c := range tb.Columns {
					if _, ok := at.Column(c.Name); !ok {
						t.Errorf("%s drops column %s.%s that the previous release reads", f.name, tb.Name, c.Name)
					}
				}
			}
		}
		before = after
	}
	// PostgreSQL's files say the same in their own dialect; a textual check
	// keeps them honest without a server.
	drop := regexp.MustCompile(`(?i)\b(DROP\s+(TABLE|COLUMN)|RENAME\s+(TO|COLUMN))\b`)
	for _, f := range migrationFiles(t, "postgres") {
		for _, stmt := range stmts(t, f) {
			if drop.MatchString(stmt) {
				t.Errorf("%s contracts the schema: %s", f.name, stmt)
			}
		}
	}
	if got, want := names(migrationFiles(t, "postgres")), names(files); !slices.Equal(got, want) {
		t.Errorf("SQLite and PostgreSQL migrations differ: %v vs %v", want, got)
	}
}

type migrationFile struct {
	name string
	body []byte
}

func migrationFiles(t *testing.T, d string) []migrationFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("migrations", d, "*.sql"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no %s migrations: %v", d, err)
	}
	var out []migrationFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, migrationFile{filepath.Base(p), b})
	}
	return out
}

func names(fs []migrationFile) []string {
	var n []string
	for _, f := range fs {
		n = append(n, f.name)
	}
	return n
}

func stmts(t *testing.T, f migrationFile) []string {
	t.Helper()
	s, err := atlasmigrate.NewLocalFile(f.name, f.body).Stmts()
	if err != nil {
		t.Fatalf("%s: %v", f.name, err)
	}
	return s
}

// TestSchemaStatus walks a database through empty, migrated, and migrated
// by a newer release.
func TestSchemaStatus(t *testing.T) {
	latest := strings.SplitN(migrationFiles(t, "sqlite")[len(migrationFiles(t, "sqlite"))-1].name, "_", 2)[0]
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.DSN(t)
			s, err := store.Open(ctx, dsn, store.WithoutMigration())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			st, err := s.SchemaStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Empty || st.UpToDate() || st.Latest != latest || len(st.Pending) != len(migrationFiles(t, "sqlite")) {
				t.Fatalf("empty database: %+v", st)
			}
			applied, err := s.Migrate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(applied, st.Pending) {
				t.Fatalf("applied %v, want %v", applied, st.Pending)
			}
			if again, err := s.Migrate(ctx); err != nil || len(again) != 0 {
				t.Fatalf("second run applied %v, %v", again, err)
			}
			st, err = s.SchemaStatus(ctx)
			if err != nil || !st.UpToDate() || st.Current != latest || st.Empty || st.Unversioned {
				t.Fatalf("migrated: %+v %v", st, err)
			}
			// A newer release migrated further: this one still runs on it
			// (expand-then-contract) and applies nothing.
			db, _ := rawDB(t, b.Name, dsn)
			q := "INSERT INTO gatehouse_schema_revisions VALUES ('99990101000000', 'future', 2, 1, 1, '2099-01-01T00:00:00Z', 0, '', '', '', '[]', 'future')"
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
			st, err = s.SchemaStatus(ctx)
			if err != nil || !st.UpToDate() || !slices.Equal(st.Unknown, []string{"99990101000000"}) {
				t.Fatalf("newer database: %+v %v", st, err)
			}
			if applied, err := s.Migrate(ctx); err != nil || len(applied) != 0 {
				t.Fatalf("migrate on a newer database: %v %v", applied, err)
			}
		})
	}
}

// TestMigrateReplicasTogether starts replicas on one empty PostgreSQL
// database at once: the advisory lock lets one apply the migrations and the
// others find nothing to do.
func TestMigrateReplicasTogether(t *testing.T) {
	if !storetest.PostgresConfigured() {
		t.Skipf("PostgreSQL not configured: set %s", storetest.EnvPostgres)
	}
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	const replicas = 6
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := store.Open(ctx, dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	db, _ := rawDB(t, "postgres", dsn)
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM gatehouse_schema_revisions").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := len(migrationFiles(t, "postgres")); n != want {
		t.Fatalf("%d revisions recorded, want %d (one per file)", n, want)
	}
}

// TestUpgradeFromUnversioned loads a database written by the last release
// before versioned migrations and upgrades it: its tables are adopted as the
// baseline, later migrations run, and every row is still there.
func TestUpgradeFromUnversioned(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.DSN(t)
			fx := storetest.LoadUpgradeFixture(t, b.Name, dsn)
			db, _ := rawDB(t, b.Name, dsn)
			before := rowCounts(t, db)
			s, err := store.Open(ctx, dsn, store.WithoutMigration())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			st, err := s.SchemaStatus(ctx)
			if err != nil || !st.Unversioned || st.UpToDate() || st.Current != "" {
				t.Fatalf("fixture of %s: %+v %v", fx.Commit, st, err)
			}
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if st, err := s.SchemaStatus(ctx); err != nil || !st.UpToDate() {
				t.Fatalf("after upgrade: %+v %v", st, err)
			}
			if after := rowCounts(t, db); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("rows changed by the upgrade: %v -> %v", before, after)
			}
			alice, err := s.GetAccount(ctx, store.AccountKey{Username: fx.Username})
			if err != nil || alice.PasswordHash == "" {
				t.Fatalf("user %s after upgrade: %+v %v", fx.Username, alice, err)
			}
			if _, err := s.GetAccount(ctx, store.AccountKey{ClientID: fx.ClientID}); err != nil {
				t.Fatalf("client %s after upgrade: %v", fx.ClientID, err)
			}
			if keys, err := s.SigningKeys(ctx); err != nil || len(keys) == 0 {
				t.Fatalf("signing keys after upgrade: %d %v", len(keys), err)
			}
		})
	}
}

func rowCounts(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, tb := range []string{"accounts", "roles", "signing_keys", "refresh_tokens", "settings", "trusted_issuers", "federated_links", "changes"} {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + tb).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", tb, err)
		}
		out[tb] = n
	}
	return out
}

// TestAdoptRefusesForeignTables: tables that are not gatehouse's are never
// adopted as its schema.
func TestAdoptRefusesForeignTables(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.DSN(t)
			db, _ := rawDB(t, b.Name, dsn)
			if _, err := db.ExecContext(ctx, "CREATE TABLE accounts (id text PRIMARY KEY, name text)"); err != nil {
				t.Fatal(err)
			}
			_, err := store.Open(ctx, dsn)
			if err == nil || !strings.Contains(err.Error(), "missing") || !strings.Contains(err.Error(), "table signing_keys") {
				t.Fatalf("got %v, want a refusal naming what is missing", err)
			}
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM accounts").Scan(&n); err != nil {
				t.Fatalf("the foreign table was touched: %v", err)
			}
		})
	}
}
