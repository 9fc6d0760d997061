package store

// Bounding and classifying database work.
//
// Every statement and every transaction the store runs through ent goes
// through boundedDriver, which
//   - gives it a deadline (Store's operation timeout, default 5 s, or the
//     caller's earlier one), so that waiting for a pooled connection, a
//     hung server or a black-holed network ends instead of queueing forever;
//   - turns errors that mean "the database is down or overloaded" into an
//     *UnavailableError, which the service layer answers as UNAVAILABLE /
//     503 with Retry-After (it implements errs.Outage without importing it);
//   - wakes the availability monitor, so that health flips at once.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5/pgconn"
)

// UnavailableError is a database error that means the database is down,
// unreachable or overloaded: the same request may succeed later.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "database unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// OutageMessage is what callers are told (it implements errs.Outage).
func (e *UnavailableError) OutageMessage() string {
	return "the database is unavailable, retry later"
}

// IsUnavailable reports whether err means the database is unavailable.
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// errOpTimeout is the cause of the store's own operation deadline, which
// tells it apart from the caller's deadline or cancellation.
var errOpTimeout = errors.New("database operation timeout")

// bound returns ctx limited by the operation timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.opTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, s.opTimeout, errOpTimeout)
}

// classify turns an error of an operation run under ctx into an
// *UnavailableError when it means an outage, and leaves it alone otherwise.
func (s *Store) classify(ctx context.Context, err error) error {
	if err == nil || IsUnavailable(err) {
		return err
	}
	if ctx.Err() != nil {
		if !errors.Is(context.Cause(ctx), errOpTimeout) {
			return err // the caller gave up or its own deadline passed
		}
		// Not %w: the caller must not see this as its own deadline.
		err = &UnavailableError{Err: fmt.Errorf("no answer (or no free connection) within %s: %v", s.opTimeout, err)}
	} else if isOutage(err) {
		err = &UnavailableError{Err: err}
	} else {
		return err
	}
	s.avail.observed()
	return err
}

// PostgreSQL SQLSTATEs (appendix A of its manual) that mean "retry later"
// rather than "this request is wrong".
var retryableStates = map[string]bool{
	"53000": true, // insufficient_resources
	"53100": true, // disk_full
	"53200": true, // out_of_memory
	"53300": true, // too_many_connections
	"53400": true, // configuration_limit_exceeded
	"57P01": true, // admin_shutdown
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now
	"57P05": true, // idle_session_timeout
	"57014": true, // query_canceled (statement_timeout)
	"55P03": true, // lock_not_available
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
	"25P03": true, // idle_in_transaction_session_timeout
}

// SQLite primary result codes that mean "retry later".
const (
	sqliteBusy    = 5
	sqliteLocked  = 6
	sqliteIOErr   = 10
	sqliteFull    = 13
	sqliteCantOpn = 14
)

// isOutage reports whether err, from an operation whose context is still
// live, means the database is down, unreachable or overloaded.
func isOutage(err error) bool {
	// Failing to connect at all (refused, unreachable, too many clients,
	// starting up, even rejected credentials) is the database being
	// unavailable to this server, not a fault of the request.
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return retryableStates[pgErr.Code] || len(pgErr.Code) == 5 && pgErr.Code[:2] == "08" // connection_exception
	}
	var sqliteErr interface{ Code() int }
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff {
		case sqliteBusy, sqliteLocked, sqliteIOErr, sqliteFull, sqliteCantOpn:
			return true
		}
		return false
	}
	var netErr net.Error
	switch {
	case errors.As(err, &netErr),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH),
		pgconn.SafeToRetry(err):
		return true
	}
	return false
}

// boundedDriver is the ent driver of the store: ent's SQL driver with every
// operation bounded and its errors classified.
type boundedDriver struct {
	*entsql.Driver
	s *Store
}

func (d *boundedDriver) Exec(ctx context.Context, query string, args, v any) error {
	ctx, cancel := d.s.bound(ctx)
	defer cancel()
	return d.s.classify(ctx, d.Driver.Exec(ctx, query, args, v))
}

func (d *boundedDriver) Query(ctx context.Context, query string, args, v any) error {
	ctx, cancel := d.s.bound(ctx)
	if err := d.Driver.Query(ctx, query, args, v); err != nil {
		err = d.s.classify(ctx, err) // before cancel, which would look like the caller's
		cancel()
		return err
	}
	// The rows are read after Query returns: the deadline ends with them.
	if rows, ok := v.(*entsql.Rows); ok {
		rows.ColumnScanner = &boundedRows{ColumnScanner: rows.ColumnScanner, ctx: ctx, cancel: cancel, s: d.s}
	} else {
		cancel()
	}
	return nil
}

// ExecContext and QueryContext serve ent's sql/execquery feature outside a
// transaction. QueryContext is not bounded (a *sql.Rows outlives the call);
// its errors are still classified.
func (d *boundedDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, cancel := d.s.bound(ctx)
	defer cancel()
	res, err := d.DB().ExecContext(ctx, query, args...)
	return res, d.s.classify(ctx, err)
}

func (d *boundedDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := d.DB().QueryContext(ctx, query, args...)
	return rows, d.s.classify(ctx, err)
}

func (d *boundedDriver) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

// BeginTx bounds the whole transaction, from the wait for a connection to
// the commit.
func (d *boundedDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	ctx, cancel := d.s.bound(ctx)
	tx, err := d.Driver.BeginTx(ctx, opts)
	if err != nil {
		err = d.s.classify(ctx, err)
		cancel()
		return nil, err
	}
	return &boundedTx{Tx: tx, ctx: ctx, cancel: cancel, s: d.s}, nil
}

// boundedTx is a transaction under the deadline of its BeginTx.
type boundedTx struct {
	dialect.Tx
	ctx    context.Context
	cancel context.CancelFunc
	s      *Store
}

func (t *boundedTx) Exec(ctx context.Context, query string, args, v any) error {
	return t.s.classify(t.ctx, t.Tx.Exec(ctx, query, args, v))
}

func (t *boundedTx) Query(ctx context.Context, query string, args, v any) error {
	if err := t.Tx.Query(ctx, query, args, v); err != nil {
		return t.s.classify(t.ctx, err)
	}
	if rows, ok := v.(*entsql.Rows); ok {
		rows.ColumnScanner = &boundedRows{ColumnScanner: rows.ColumnScanner, ctx: t.ctx, s: t.s}
	}
	return nil
}

func (t *boundedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ex, ok := t.Tx.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	})
	if !ok {
		return nil, errors.New("transaction does not support ExecContext")
	}
	res, err := ex.ExecContext(ctx, query, args...)
	return res, t.s.classify(t.ctx, err)
}

func (t *boundedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, ok := t.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	})
	if !ok {
		return nil, errors.New("transaction does not support QueryContext")
	}
	rows, err := q.QueryContext(ctx, query, args...)
	return rows, t.s.classify(t.ctx, err)
}

func (t *boundedTx) Commit() error {
	defer t.cancel() // deferred calls run after the result is computed
	return t.s.classify(t.ctx, t.Tx.Commit())
}

func (t *boundedTx) Rollback() error {
	defer t.cancel()
	return t.s.classify(t.ctx, t.Tx.Rollback())
}

// boundedRows classifies read errors and, outside a transaction, ends the
// query's deadline when the rows are closed.
type boundedRows struct {
	entsql.ColumnScanner
	ctx    context.Context
	cancel context.CancelFunc // nil inside a transaction
	s      *Store
}

func (r *boundedRows) Err() error { return r.s.classify(r.ctx, r.ColumnScanner.Err()) }

func (r *boundedRows) Scan(dest ...any) error {
	return r.s.classify(r.ctx, r.ColumnScanner.Scan(dest...))
}

func (r *boundedRows) Close() error {
	err := r.s.classify(r.ctx, r.ColumnScanner.Close())
	if r.cancel != nil {
		r.cancel()
	}
	return err
}

// availability is the store's latest knowledge of whether the database
// answers, kept by Monitor.
type availability struct {
	mu        sync.Mutex
	monitored bool
	last      error
	wake      chan struct{} // a buffered slot: an outage was observed
}

func newAvailability() *availability { return &availability{wake: make(chan struct{}, 1)} }

// observed notes an outage seen by a request; the monitor checks at once.
func (a *availability) observed() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Monitor checks every interval, each time within timeout, whether the
// database answers, and at once when a request has met an outage. It calls
// report with the result (nil: the database answers) on the first check and
// on every change, and returns when ctx ends. While it runs, Ping answers
// from its latest check, so that every readiness signal of the process says
// the same thing.
func (s *Store) Monitor(ctx context.Context, interval, timeout time.Duration, report func(error)) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if timeout <= 0 || timeout > interval {
		timeout = interval
	}
	a := s.avail
	defer func() {
		a.mu.Lock()
		a.monitored = false
		a.mu.Unlock()
	}()
	first := true
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := s.db.PingContext(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			err = fmt.Errorf("ping %s database: %w", s.dialect, err)
		}
		a.mu.Lock()
		changed := first || (err == nil) != (a.last == nil)
		a.monitored, a.last = true, err
		a.mu.Unlock()
		if changed {
			report(err)
		}
		first = false
		// While the database is down, requests failing on it do not speed
		// up the checks: the ticker alone paces them.
		wake := a.wake
		if err != nil {
			wake = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}
