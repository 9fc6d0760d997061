// Package store is gatehouse's persistence: the ent schema, the generated ent
// code and the Store type. It is the only package that knows ent or a SQL
// driver; everything above it works with the plain structs defined here.
//
// PostgreSQL gets one bounded connection pool. SQLite allows one writer at a
// time, so a SQLite file gets one writer connection, for every write and
// every transaction, and beside it a small pool of read-only connections for
// the reads outside transactions: in WAL mode a reader neither blocks the
// writer nor waits for it, so logins and lookups do not queue behind a
// refresh rotation's transaction (readers.go).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/gatehouse/gatehouse/store/ent"
)

// Errors the store returns; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict is a violated uniqueness rule (username, email, client id, kid).
	ErrConflict = errors.New("already exists")
)

// Store is the database behind gatehouse. It is safe for concurrent use.
type Store struct {
	client *ent.Client
	// db runs every write and transaction (SQLite: its only writer);
	// reader, when not nil, the reads outside transactions (readers.go).
	db      *sql.DB
	reader  *sql.DB
	dialect string
	now     func() time.Time
	// maxConns bounds PostgreSQL's connection pool; opTimeout each
	// statement or transaction, the wait for a connection included.
	maxConns  int
	opTimeout time.Duration
	avail     *availability
	// migrate applies pending migrations at Open (see WithoutMigration).
	migrate bool
	// tracer, when set, puts database calls into spans (trace.go).
	tracer trace.Tracer
	// auditSink hears committed audit events (see WithAuditSink).
	auditSink AuditSink
}

// Defaults of the pool options.
const (
	DefaultMaxConns  = 16
	DefaultOpTimeout = 5 * time.Second
	// Idle connections above what the load needs are closed after this
	// long; every connection is replaced after connMaxLifetime so that a
	// failover or a PgBouncer restart is picked up.
	connMaxIdleTime = 5 * time.Minute
	connMaxLifetime = 30 * time.Minute
)

// Option configures Open.
type Option func(*Store)

// WithClock sets the time source used for timestamps the store writes.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithMaxConns bounds the PostgreSQL connection pool to n open connections
// (0: DefaultMaxConns). SQLite always writes through one connection and
// reads a file through a few more (GOMAXPROCS of them, 4 to 16), whatever n
// is.
func WithMaxConns(n int) Option { return func(s *Store) { s.maxConns = n } }

// WithOpTimeout bounds every statement and transaction, including the wait
// for a free connection, to d (0: DefaultOpTimeout; negative: no bound
// beyond the caller's context). An operation that runs out of it fails with
// an *UnavailableError.
func WithOpTimeout(d time.Duration) Option { return func(s *Store) { s.opTimeout = d } }

// WithoutMigration opens the database as it is: the caller reads
// SchemaStatus and decides (gatehouse serve's policy, the CLI's refusal,
// `gatehouse migrate`). Without it Open applies what is pending.
func WithoutMigration() Option { return func(s *Store) { s.migrate = false } }

// Open connects to the database named by dsn and, unless WithoutMigration,
// applies the pending schema migrations.
// ParseDSN chooses the database: PostgreSQL for postgres:// and
// postgresql:// URLs and libpq keyword strings, SQLite for sqlite: and
// file: URLs and plain paths; anything ambiguous is refused.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	s := &Store{now: time.Now, avail: newAvailability(), migrate: true}
	for _, o := range opts {
		o(s)
	}
	if s.maxConns <= 0 {
		s.maxConns = DefaultMaxConns
	}
	if s.opTimeout == 0 {
		s.opTimeout = DefaultOpTimeout
	}
	target, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	switch target.Dialect {
	case dialect.Postgres:
		s.dialect = dialect.Postgres
		s.db, err = sql.Open("pgx", target.Conn)
		if err == nil {
			// A bounded pool: gatehouse shares the server with others, and
			// a burst must wait (up to the operation timeout) rather than
			// open connections until PostgreSQL refuses everyone.
			s.db.SetMaxOpenConns(s.maxConns)
			s.db.SetMaxIdleConns(s.maxConns)
			s.db.SetConnMaxIdleTime(connMaxIdleTime)
			s.db.SetConnMaxLifetime(connMaxLifetime)
		}
	default:
		s.dialect = dialect.SQLite
		s.db, err = sql.Open("sqlite", sqliteDSN(target.Conn))
		if err == nil {
			// SQLite allows one writer; a single connection avoids SQLITE_BUSY
			// between our own goroutines and keeps transactions serialisable.
			s.db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", s.dialect, err)
	}
	// The writer has set WAL on the file by now; readers work on a fresh
	// file as well, and see the tables Migrate creates once it has.
	if s.dialect == dialect.SQLite {
		if err := s.openReaders(ctx, target); err != nil {
			s.db.Close()
			return nil, err
		}
	}
	drv := s.driver(s.db)
	if s.reader != nil {
		drv = &splitDriver{writer: drv, reader: s.driver(s.reader)}
	}
	s.client = ent.NewClient(ent.Driver(drv))
	if s.migrate {
		if _, err := s.Migrate(ctx); err != nil {
			s.client.Close()
			return nil, fmt.Errorf("migrate schema: %w", err)
		}
	}
	return s, nil
}

// driver is ent's driver over db with the store's wrappers: the operation
// bound and, when configured, tracing.
func (s *Store) driver(db *sql.DB) entDriver {
	// Both of traced's results are entDrivers (readers.go checks it).
	return s.traced(&boundedDriver{Driver: entsql.OpenDB(s.dialect, db), s: s}).(entDriver)
}

// IsPostgres reports whether dsn names a PostgreSQL database (see ParseDSN).
func IsPostgres(dsn string) bool {
	d, err := ParseDSN(dsn)
	return err == nil && d.Dialect == dialect.Postgres
}

// sqliteDSN turns a path into a modernc SQLite URI with the pragmas gatehouse
// relies on: foreign keys, WAL for concurrent readers, and a busy timeout for
// other processes (the CLI) writing to the same file.
func sqliteDSN(dsn string) string {
	return withParams(dsn, "_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
}

// sqliteReaderDSN is sqliteDSN for the reader connections. query_only makes a
// write sent to a reader by mistake fail instead of racing the writer; the
// journal mode is the writer's to set (it is a property of the file).
func sqliteReaderDSN(dsn string) string {
	return withParams(dsn, "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
}

// withParams makes dsn a "file:" URI and appends the query parameters.
func withParams(dsn, params string) string {
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + params
}

// clock returns the current time as both databases store it: UTC, with
// microsecond precision (PostgreSQL's), so that results agree across backends.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Dialect returns "sqlite3" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// Pool is the connection pool, for its statistics only (the Prometheus
// DB stats collector); queries go through the Store's methods. On SQLite it
// is the writer, whose single connection is the one callers can queue for;
// ReaderPool has the readers.
func (s *Store) Pool() *sql.DB { return s.db }

// ReaderPool is the pool of SQLite reader connections, for its statistics
// only; nil when there is none (PostgreSQL, an in-memory database).
func (s *Store) ReaderPool() *sql.DB { return s.reader }

// Close releases the database connections, the readers' included.
func (s *Store) Close() error { return s.client.Close() }

// Ping checks that the database answers. While Monitor runs it answers
// from the monitor's latest check instead, so that /readyz and gRPC health
// always agree.
func (s *Store) Ping(ctx context.Context) error {
	s.avail.mu.Lock()
	monitored, last := s.avail.monitored, s.avail.last
	s.avail.mu.Unlock()
	if monitored {
		return last
	}
	pctx, cancel := s.bound(ctx)
	defer cancel()
	return s.classify(pctx, s.db.PingContext(pctx))
}

// inTx runs fn in a transaction, committing on success and rolling back on
// error or panic.
func (s *Store) inTx(ctx context.Context, fn func(tx *ent.Tx) error) (err error) {
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	err = fn(tx)
	// The audit events attached to ctx belong to this change: written with
	// it, or dropped with it.
	audit := pendingAudit(ctx)
	if err == nil {
		err = s.writeAudit(ctx, tx, audit)
	}
	if err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	if s.auditSink != nil && len(audit) > 0 {
		s.auditSink(ctx, audit)
	}
	return nil
}

// mapErr turns ent errors into the store's sentinel errors.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case ent.IsNotFound(err):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case ent.IsConstraintError(err):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}
