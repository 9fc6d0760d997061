// Package storetest gives tests a fresh database of every configured kind:
// a SQLite file always, and a PostgreSQL database when GATEHOUSE_TEST_POSTGRES
// holds a DSN. Each PostgreSQL test gets its own randomly named database,
// dropped afterwards, so packages can run in parallel.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	_ "modernc.org/sqlite"             // the "sqlite" driver
)

// EnvPostgres names the variable holding the admin DSN of a test PostgreSQL.
const EnvPostgres = "GATEHOUSE_TEST_POSTGRES"

// Backend is one database a test can run against.
type Backend struct {
	Name string // "sqlite" or "postgres"
	// DSN returns the DSN of a new empty database, removed when t ends.
	DSN func(t testing.TB) string
}

// Backends returns SQLite and, when configured, PostgreSQL. When PostgreSQL
// is not configured the test log says so, so that a skipped backend is never
// silent.
func Backends(t testing.TB) []Backend {
	out := []Backend{{Name: "sqlite", DSN: SQLiteDSN}}
	if PostgresConfigured() {
		out = append(out, Backend{Name: "postgres", DSN: PostgresDSN})
	} else {
		t.Logf("PostgreSQL tests skipped: set %s to a DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", EnvPostgres)
	}
	return out
}

// PostgresConfigured reports whether a test PostgreSQL is configured.
func PostgresConfigured() bool { return os.Getenv(EnvPostgres) != "" }

// SQLiteDSN returns the path of a new SQLite database file in t's temp dir.
func SQLiteDSN(t testing.TB) string {
	return filepath.Join(t.TempDir(), "gatehouse.db")
}

// PostgresDSN creates a randomly named database and returns its DSN; it is
// dropped when t ends. The test is skipped when PostgreSQL is not configured.
func PostgresDSN(t testing.TB) string {
	admin := os.Getenv(EnvPostgres)
	if admin == "" {
		t.Skipf("PostgreSQL not configured: set %s", EnvPostgres)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("open %s: %v", EnvPostgres, err)
	}
	defer db.Close()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "gatehouse_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// OpenRaw opens a test database of backend ("sqlite" or "postgres") with
// database/sql directly, for tests that must look or write behind the
// store's back; it is closed when t ends.
func OpenRaw(t testing.TB, backend, dsn string) *sql.DB {
	t.Helper()
	driver := "pgx"
	if backend == "sqlite" {
		driver = "sqlite"
		if !strings.HasPrefix(dsn, "file:") {
			dsn = "file:" + dsn
		}
		// The server under test may hold the write lock (an audit batch, a
		// key rotation): wait for it as the server's own connections do.
		dsn += "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// UpgradeFixture is a database written by a gatehouse release from before
// versioned migrations (store/testdata/upgrade, made by make-fixture.sh),
// with the secrets and tokens it holds.
type UpgradeFixture struct {
	Commit       string // the release that wrote it
	MadeAt       int64  `json:"made_at"`
	Issuer       string `json:"issuer"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	OfflineToken string `json:"offline_token"`
	// MasterKey is the master key the fixture's keys and settings are
	// sealed with.
	MasterKey string
}

// UpgradeFixtureMasterKey is the (test-only) master key of the fixture.
const UpgradeFixtureMasterKey = "Z2F0ZWhvdXNlLXVwZ3JhZGUtZml4dHVyZS1rZXktMzI="

// LoadUpgradeFixture writes the fixture of backend ("sqlite" or "postgres")
// into the empty database dsn and returns what it holds.
func LoadUpgradeFixture(t testing.TB, backend, dsn string) UpgradeFixture {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "testdata", "upgrade", "unversioned")
	var f UpgradeFixture
	raw, err := os.ReadFile(filepath.Join(dir, backend+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	commit, err := os.ReadFile(filepath.Join(dir, "COMMIT"))
	if err != nil {
		t.Fatal(err)
	}
	f.Commit, f.MasterKey = strings.TrimSpace(string(commit)), UpgradeFixtureMasterKey
	script, err := os.ReadFile(filepath.Join(dir, backend+".sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRaw(t, backend, dsn).Exec(string(script)); err != nil {
		t.Fatalf("load the %s upgrade fixture: %v", backend, err)
	}
	return f
}
