package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/storetest"
)

func TestIsOutage(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"too many clients", &pgconn.PgError{Code: "53300"}, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, true},
		{"admin shutdown", fmt.Errorf("query: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"not found", ErrNotFound, false},
		{"plain", errors.New("boom"), false},
	} {
		if got := isOutage(tc.err); got != tc.want {
			t.Errorf("%s: isOutage = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestOperationTimeout: waiting for a connection ends at the operation
// timeout with an *UnavailableError that does not look like the caller's own
// deadline; a caller's cancellation stays what it is. SQLite's single writer
// connection makes the pool easy to exhaust; a write (INSERT … RETURNING,
// through ent's Query) waits for it, while reads go to the readers.
func TestOperationTimeout(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, storetest.SQLiteDSN(t), WithOpTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	hold := make(chan struct{})
	held := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// Hold the only connection for longer than the operation timeout,
		// without a bound of its own.
		done <- func() error {
			tx, err := s.db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			close(held)
			<-hold
			return tx.Rollback()
		}()
	}()
	<-held
	start := time.Now()
	err = s.CreateSetting(ctx, "x", []byte("v"))
	took := time.Since(start)
	if !IsUnavailable(err) {
		t.Fatalf("a write waiting for a busy pool: %v, want an UnavailableError", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the store's own timeout must not read as the caller's deadline: %v", err)
	}
	if took > 5*time.Second {
		t.Errorf("the wait took %s, want about the operation timeout", took)
	}
	// A transaction waits the same way.
	err = s.inTx(ctx, func(*ent.Tx) error { return nil })
	if !IsUnavailable(err) {
		t.Fatalf("a transaction waiting for a busy pool: %v, want an UnavailableError", err)
	}
	// The caller's own cancellation is not an outage.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = s.CreateSetting(cctx, "x", []byte("v"))
	if IsUnavailable(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the caller's deadline: %v, want context.DeadlineExceeded and no outage", err)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSetting(ctx, "x", []byte("v")); err != nil {
		t.Fatalf("after the pool is free: %v", err)
	}
}
