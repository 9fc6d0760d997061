package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestPostgresPoolKeepsConnections proves that a concurrent load through the
// Store API reuses a bounded set of PostgreSQL connections instead of opening
// one per request: the server's own counters (pg_stat_database.sessions,
// PostgreSQL 14+) and the backends seen in pg_stat_activity must stay within
// the pool size plus a small allowance.
func TestPostgresPoolKeepsConnections(t *testing.T) {
	if !storetest.PostgresConfigured() {
		t.Skipf("PostgreSQL pool test skipped: set %s to a DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", storetest.EnvPostgres)
	}
	const (
		maxConns  = 8
		workers   = 16 // twice the pool, so callers queue for connections
		opsEach   = 240
		rounds    = 3
		allowance = 2 // slack for a connection replaced by database/sql
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dsn := storetest.PostgresDSN(t)
	admin, err := sql.Open("pgx", os.Getenv(storetest.EnvPostgres))
	if err != nil {
		t.Fatalf("open admin connection: %v", err)
	}
	defer admin.Close()
	admin.SetMaxOpenConns(1)
	dbName := dbNameOf(t, dsn)

	var version int
	if err := admin.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatalf("server version: %v", err)
	}
	hasSessions := version >= 140000 // pg_stat_database.sessions is new in 14
	if !hasSessions {
		t.Logf("PostgreSQL %d has no pg_stat_database.sessions; asserting on pg_stat_activity only", version)
	}
	before := sessionsOpened(ctx, t, admin, dbName, hasSessions)

	s, err := store.Open(ctx, dsn, store.WithMaxConns(maxConns))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	for w := range workers {
		if _, err := s.CreateAccount(ctx, user(fmt.Sprintf("u%d", w), fmt.Sprintf("user%d", w), "r")); err != nil {
			t.Fatalf("create account: %v", err)
		}
	}

	// Sample the backends connected to the test database while the load runs.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampled sampledBackends
	sampler := make(chan error, 1)
	go func() { sampler <- sampled.run(sampleCtx, admin, dbName) }()

	// Several bursts: between them every connection is idle, so a pool
	// that did not keep its idle connections would open them again.
	var loadErr error
	for range rounds {
		if loadErr = burst(ctx, s, workers, opsEach/rounds); loadErr != nil {
			break
		}
	}
	stopSampling()
	if err := <-sampler; err != nil {
		t.Fatalf("sample pg_stat_activity: %v", err)
	}
	if loadErr != nil {
		t.Fatalf("load: %v", loadErr)
	}

	st := s.Pool().Stats()
	if st.MaxOpenConnections != maxConns {
		t.Errorf("pool MaxOpenConnections = %d, want %d", st.MaxOpenConnections, maxConns)
	}
	if st.MaxIdleClosed != 0 {
		t.Errorf("pool closed %d connections for exceeding the idle limit: idle connections are not kept", st.MaxIdleClosed)
	}

	// Closing ends every backend, which flushes its statistics; only then
	// is the sessions counter complete.
	s.Close()
	closed = true
	waitNoBackends(ctx, t, admin, dbName)
	opened := sessionsOpened(ctx, t, admin, dbName, hasSessions) - before

	requests := workers * opsEach
	t.Logf("PostgreSQL %d: %d requests from %d goroutines, pool %d: sessions opened %d, distinct backends seen %d, most at once %d; callers waited for a connection %d times",
		version, requests, workers, maxConns, opened, len(sampled.pids), sampled.peak, st.WaitCount)
	if hasSessions && opened > maxConns+allowance {
		t.Errorf("pg_stat_database.sessions grew by %d during the run, want <= %d (pool %d + %d)", opened, maxConns+allowance, maxConns, allowance)
	}
	if len(sampled.pids) > maxConns+allowance {
		t.Errorf("%d distinct backends seen in pg_stat_activity, want <= %d", len(sampled.pids), maxConns+allowance)
	}
	if sampled.peak > maxConns {
		t.Errorf("%d backends at once, want <= %d (the pool bound)", sampled.peak, maxConns)
	}
}

// burst runs workers goroutines, each doing ops reads and writes of its own
// account (u0, u1, ...), one write in four.
func burst(ctx context.Context, s *store.Store, workers, ops int) error {
	g, gctx := errgroup.WithContext(ctx)
	for w := range workers {
		id := fmt.Sprintf("u%d", w)
		g.Go(func() error {
			for i := range ops {
				if i%4 == 3 {
					_, err := s.UpdateAccount(gctx, id, func(a *store.Account) error { a.Active = !a.Active; return nil })
					if err != nil {
						return fmt.Errorf("update %s: %w", id, err)
					}
					continue
				}
				if _, err := s.GetAccount(gctx, store.AccountKey{ID: id}); err != nil {
					return fmt.Errorf("get %s: %w", id, err)
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// dbNameOf returns the database name of a PostgreSQL URL DSN, without
// connecting (a connection would itself count as a session).
func dbNameOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || len(u.Path) < 2 {
		t.Fatalf("test DSN has no database name (err %v)", err)
	}
	return u.Path[1:]
}

// sessionsOpened reads pg_stat_database.sessions for the database (0 when
// the server lacks the column).
func sessionsOpened(ctx context.Context, t *testing.T, admin *sql.DB, db string, has bool) int {
	t.Helper()
	if !has {
		return 0
	}
	var n int
	if err := admin.QueryRowContext(ctx, "SELECT sessions FROM pg_stat_database WHERE datname = $1", db).Scan(&n); err != nil {
		t.Fatalf("read pg_stat_database.sessions: %v", err)
	}
	return n
}

// waitNoBackends waits until no backend is connected to the database.
func waitNoBackends(ctx context.Context, t *testing.T, admin *sql.DB, db string) {
	t.Helper()
	for {
		var n int
		if err := admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db).Scan(&n); err != nil {
			t.Fatalf("count backends: %v", err)
		}
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d backends still connected to %s: %v", n, db, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sampledBackends records the backends connected to one database.
type sampledBackends struct {
	mu   sync.Mutex
	pids map[int]bool
	peak int
}

// run samples pg_stat_activity until ctx ends.
func (s *sampledBackends) run(ctx context.Context, admin *sql.DB, db string) error {
	s.pids = map[int]bool{}
	for ctx.Err() == nil {
		if err := s.sample(ctx, admin, db); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func (s *sampledBackends) sample(ctx context.Context, admin *sql.DB, db string) error {
	rows, err := admin.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1", db)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	n := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		s.pids[pid] = true
		n++
	}
	s.peak = max(s.peak, n)
	return rows.Err()
}
