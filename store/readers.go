package store

// Reader connections for SQLite.
//
// SQLite allows one writer at a time. The store writes through a single
// connection, which keeps its own goroutines from meeting SQLITE_BUSY and its
// transactions serial, but would make every read queue for that connection
// too, behind whatever transaction holds it. In WAL mode a reader neither
// blocks the writer nor waits for it: each statement reads the database as of
// the last commit before it began. So a SQLite file gets a second, small pool
// of query_only connections, and the statements that only read and run
// outside a transaction go there; everything else (Exec, writes that return
// rows, every transaction and the reads inside it) stays on the writer.
//
// Read-your-writes holds: a write outside a transaction returns after its
// commit, and a read that starts after that sees it, on whichever connection.
// A read running while another goroutine's transaction is open sees the state
// before that transaction, as a PostgreSQL READ COMMITTED statement would;
// code that must read and write consistently already uses a transaction,
// since it has to on PostgreSQL.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"entgo.io/ent/dialect"
)

// entDriver is the store's ent driver: dialect.Driver with the optional
// methods ent's generated client looks for (ExecContext and QueryContext for
// the sql/execquery feature; BeginTx, which Client.BeginTx asserts).
type entDriver interface {
	dialect.Driver
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error)
}

var (
	_ entDriver = (*boundedDriver)(nil)
	_ entDriver = (*tracedDriver)(nil)
	_ entDriver = (*splitDriver)(nil)
)

// readerConns is the size of the SQLite reader pool. Reading is mostly CPU
// work in the pure-Go driver, so connections beyond the processors gain
// little; at least a few let a read that waits for the disk not hold up the
// rest, and the bound keeps the per-connection page caches small.
func readerConns() int { return min(max(runtime.GOMAXPROCS(0), 4), 16) }

// openReaders opens the reader pool for the SQLite database target, whose
// writer s.db is open. It leaves s.reader nil where readers cannot work beside
// the writer: a database that is not a shared file (DSN.sharedFile), or one
// that is not in WAL mode (a file system without shared memory, a read-only
// file left in rollback mode), where a reader would wait for the writer's
// commits anyway.
func (s *Store) openReaders(ctx context.Context, target DSN) error {
	if !target.sharedFile() {
		return nil
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read the SQLite journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil
	}
	db, err := sql.Open("sqlite", sqliteReaderDSN(target.Conn))
	if err != nil {
		return fmt.Errorf("open SQLite readers: %w", err)
	}
	// Idle readers stay open: a new SQLite connection reads the schema
	// again before its first statement.
	n := readerConns()
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("connect SQLite readers: %w", err)
	}
	s.reader = db
	return nil
}

// splitDriver sends the statements that only read, outside a transaction,
// to the readers and everything else to the writer. Both sides are complete
// store drivers (bounded, traced).
type splitDriver struct {
	writer, reader entDriver
}

// readsOnly reports whether query may run on a reader: a SELECT. The method
// ent calls does not tell, since every create is INSERT … RETURNING through
// Query. Anything else (WITH, which may wrap a write; PRAGMA; a statement
// behind a comment or a parenthesis) goes to the writer, where a read is only
// slower, while a write on a query_only reader fails.
func readsOnly(query string) bool { return operation(query) == "SELECT" }

func (d *splitDriver) Exec(ctx context.Context, query string, args, v any) error {
	return d.writer.Exec(ctx, query, args, v)
}

func (d *splitDriver) Query(ctx context.Context, query string, args, v any) error {
	if readsOnly(query) {
		return d.reader.Query(ctx, query, args, v)
	}
	return d.writer.Query(ctx, query, args, v)
}

func (d *splitDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.writer.ExecContext(ctx, query, args...)
}

func (d *splitDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if readsOnly(query) {
		return d.reader.QueryContext(ctx, query, args...)
	}
	return d.writer.QueryContext(ctx, query, args...)
}

// Tx and BeginTx run on the writer, reads included: a transaction's reads
// must see its own writes and hold the write lock from BEGIN IMMEDIATE on.
func (d *splitDriver) Tx(ctx context.Context) (dialect.Tx, error) { return d.writer.Tx(ctx) }

func (d *splitDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	return d.writer.BeginTx(ctx, opts)
}

// Close closes both pools.
func (d *splitDriver) Close() error {
	return errors.Join(d.writer.Close(), d.reader.Close())
}

func (d *splitDriver) Dialect() string { return d.writer.Dialect() }
