package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"entgo.io/ent/dialect"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of the store's spans.
const tracerName = "github.com/gatehouse/gatehouse/store"

var (
	errTxExecContext  = errors.New("transaction does not support ExecContext")
	errTxQueryContext = errors.New("transaction does not support QueryContext")
)

// WithTracerProvider traces database calls as spans db.query, db.exec and
// db.tx under the caller's span. Only the operation (SELECT, INSERT, ...)
// and the database system are recorded, never the statement's arguments.
// Calls without a recording span in their context (the change-log poll,
// housekeeping, an unsampled request) start none. A nil provider leaves the
// driver unwrapped.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(s *Store) {
		if tp != nil {
			s.tracer = tp.Tracer(tracerName)
		}
	}
}

// traced wraps d with spans when a tracer was configured.
func (s *Store) traced(d *boundedDriver) dialect.Driver {
	if s.tracer == nil {
		return d
	}
	system := semconv.DBSystemNameSQLite
	if s.dialect == dialect.Postgres {
		system = semconv.DBSystemNamePostgreSQL
	}
	return &tracedDriver{boundedDriver: d, tracer: s.tracer, system: system}
}

// tracedDriver is the store's ent driver with a span per statement and per
// transaction. It keeps the optional methods (ExecContext, QueryContext,
// BeginTx) that ent's generated code looks for.
type tracedDriver struct {
	*boundedDriver
	tracer trace.Tracer
	system attribute.KeyValue
}

// start begins a child span of the one in ctx, or returns ctx and nil when
// there is none recording.
func (d *tracedDriver) start(ctx context.Context, name, query string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{d.system}
	if op := operation(query); op != "" {
		attrs = append(attrs, semconv.DBOperationName(op))
	}
	return d.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// end records err on span (if any) and ends it.
func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "database error")
	}
	span.End()
}

// operation is the statement's first keyword: enough to tell a read from a
// write without recording table contents or arguments.
func operation(query string) string {
	q := strings.TrimSpace(query)
	if i := strings.IndexAny(q, " \t\n("); i > 0 {
		q = q[:i]
	}
	if len(q) > 16 {
		return ""
	}
	return strings.ToUpper(q)
}

func (d *tracedDriver) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := d.start(ctx, "db.exec", query)
	err := d.boundedDriver.Exec(ctx, query, args, v)
	end(span, err)
	return err
}

// Query's span covers the statement, not the reading of its rows.
func (d *tracedDriver) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := d.start(ctx, "db.query", query)
	err := d.boundedDriver.Query(ctx, query, args, v)
	end(span, err)
	return err
}

func (d *tracedDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, span := d.start(ctx, "db.exec", query)
	res, err := d.boundedDriver.ExecContext(ctx, query, args...)
	end(span, err)
	return res, err
}

func (d *tracedDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, span := d.start(ctx, "db.query", query)
	rows, err := d.boundedDriver.QueryContext(ctx, query, args...)
	end(span, err)
	return rows, err
}

func (d *tracedDriver) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

// BeginTx starts a db.tx span that lasts until the commit or rollback; the
// transaction's statements are its children.
func (d *tracedDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	ctx, span := d.start(ctx, "db.tx", "")
	tx, err := d.boundedDriver.BeginTx(ctx, opts)
	if err != nil {
		end(span, err)
		return nil, err
	}
	if span == nil {
		return tx, nil
	}
	return &tracedTx{Tx: tx, d: d, span: span}, nil
}

// tracedTx is a transaction whose statements are children of its db.tx
// span.
type tracedTx struct {
	dialect.Tx
	d    *tracedDriver
	span trace.Span
}

// under makes the transaction's span the parent of a statement's, keeping
// the caller's deadline and values.
func (t *tracedTx) under(ctx context.Context) context.Context {
	return trace.ContextWithSpan(ctx, t.span)
}

func (t *tracedTx) Exec(ctx context.Context, query string, args, v any) error {
	ctx, span := t.d.start(t.under(ctx), "db.exec", query)
	err := t.Tx.Exec(ctx, query, args, v)
	end(span, err)
	return err
}

func (t *tracedTx) Query(ctx context.Context, query string, args, v any) error {
	ctx, span := t.d.start(t.under(ctx), "db.query", query)
	err := t.Tx.Query(ctx, query, args, v)
	end(span, err)
	return err
}

func (t *tracedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ex, ok := t.Tx.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	})
	if !ok {
		return nil, errTxExecContext
	}
	ctx, span := t.d.start(t.under(ctx), "db.exec", query)
	res, err := ex.ExecContext(ctx, query, args...)
	end(span, err)
	return res, err
}

func (t *tracedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, ok := t.Tx.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	})
	if !ok {
		return nil, errTxQueryContext
	}
	ctx, span := t.d.start(t.under(ctx), "db.query", query)
	rows, err := q.QueryContext(ctx, query, args...)
	end(span, err)
	return rows, err
}

func (t *tracedTx) Commit() error {
	err := t.Tx.Commit()
	t.span.SetAttributes(attribute.String("db.tx.outcome", "commit"))
	end(t.span, err)
	return err
}

func (t *tracedTx) Rollback() error {
	err := t.Tx.Rollback()
	t.span.SetAttributes(attribute.String("db.tx.outcome", "rollback"))
	end(t.span, err)
	return err
}
