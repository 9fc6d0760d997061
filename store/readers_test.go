package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/storetest"
)

func TestReadsOnly(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  bool
	}{
		{"SELECT `accounts`.`id` FROM `accounts` WHERE `accounts`.`id` = ?", true},
		{"  select 1", true},
		{"SELECT\n1", true},
		{"SELECT DISTINCT `roles`.`name` FROM `roles`", true},
		{"INSERT INTO `settings` (`name`) VALUES (?) RETURNING `id`", false},
		{"UPDATE `accounts` SET `active` = ? WHERE `id` = ? RETURNING `id`", false},
		{"DELETE FROM `changes` WHERE `created_at` < ?", false},
		{"REPLACE INTO `settings` (`name`) VALUES (?)", false},
		{"WITH t AS (SELECT 1) DELETE FROM `changes`", false},
		{"WITH t AS (SELECT 1) SELECT * FROM t", false}, // may be a write: the writer's
		{"PRAGMA foreign_key_check", false},
		{"(SELECT 1)", false},
		{"-- SELECT\nDELETE FROM `changes`", false},
		{"SELECTED", false},
		{"", false},
	} {
		if got := readsOnly(tc.query); got != tc.want {
			t.Errorf("readsOnly(%q) = %v, want %v", tc.query, got, tc.want)
		}
	}
}

// openSplit opens a store on a new SQLite file and checks that it has
// readers beside its writer.
func openSplit(t *testing.T, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), storetest.SQLiteDSN(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if s.reader == nil {
		t.Fatal("a SQLite file store has no reader pool")
	}
	return s
}

// TestReadsDoNotWaitForTheWriter: while a transaction holds SQLite's one
// writer connection, reads outside it answer at once, from the last commit;
// writes still wait for the writer; after the commit, reads see it.
func TestReadsDoNotWaitForTheWriter(t *testing.T) {
	ctx := context.Background()
	s := openSplit(t, WithOpTimeout(10*time.Second))
	if _, err := s.CreateAccount(ctx, Account{ID: "u1", Kind: KindUser, Username: "alice", Active: true, Roles: []string{"r"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSetting(ctx, "before", []byte("v")); err != nil {
		t.Fatal(err)
	}

	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.inTx(ctx, func(tx *ent.Tx) error {
			if err := tx.Account.UpdateOneID("u1").SetActive(false).Exec(ctx); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	select {
	case <-holding:
	case err := <-done:
		t.Fatalf("the holding transaction ended early: %v", err)
	}
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()

	for _, tc := range []struct {
		name string
		read func(context.Context) error
	}{
		{"GetAccount", func(ctx context.Context) error {
			a, err := s.GetAccount(ctx, AccountKey{ID: "u1"})
			if err == nil && !a.Active {
				return errors.New("saw the open transaction's write")
			}
			return err
		}},
		{"ListAccounts", func(ctx context.Context) error {
			as, err := s.ListAccounts(ctx, KindUser, "", 10)
			if err == nil && len(as) != 1 {
				return fmt.Errorf("%d accounts, want 1", len(as))
			}
			return err
		}},
		{"CountAccounts", func(ctx context.Context) error { _, err := s.CountAccounts(ctx); return err }},
		{"ChangesAfter", func(ctx context.Context) error { _, err := s.ChangesAfter(ctx, 0, 10); return err }},
		{"Setting", func(ctx context.Context) error { _, err := s.Setting(ctx, "before"); return err }},
		{"SigningKeys", func(ctx context.Context) error { _, err := s.SigningKeys(ctx); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := tc.read(rctx); err != nil {
				t.Errorf("a read while a transaction holds the writer: %v", err)
			}
		})
	}

	// A write (INSERT … RETURNING, through ent's Query) waits for the
	// writer; on a reader it would fail at once as a write to a read-only
	// database.
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := s.CreateSetting(wctx, "during", []byte("v")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a write while a transaction holds the writer: %v, want it to wait until the deadline", err)
	}

	free()
	if err := <-done; err != nil {
		t.Fatalf("the holding transaction: %v", err)
	}
	if a, err := s.GetAccount(ctx, AccountKey{ID: "u1"}); err != nil || a.Active {
		t.Errorf("a read after the commit = %+v, %v; want the committed write (inactive)", a, err)
	}
}

// route is one call a driver saw.
type route struct{ pool, call, op string }

// routeLog collects the calls of the drivers it wraps.
type routeLog struct {
	mu     sync.Mutex
	routes []route
}

func (l *routeLog) add(pool, call, query string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.routes = append(l.routes, route{pool, call, operation(query)})
}

func (l *routeLog) take() []route {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.routes
	l.routes = nil
	return r
}

// recordingDriver is a store driver that logs its calls. A transaction is
// logged once, at its start.
type recordingDriver struct {
	entDriver
	pool string
	log  *routeLog
}

func (d *recordingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.log.add(d.pool, "Exec", query)
	return d.entDriver.Exec(ctx, query, args, v)
}

func (d *recordingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.log.add(d.pool, "Query", query)
	return d.entDriver.Query(ctx, query, args, v)
}

func (d *recordingDriver) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	d.log.add(d.pool, "ExecContext", query)
	return d.entDriver.ExecContext(ctx, query, args...)
}

func (d *recordingDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	d.log.add(d.pool, "QueryContext", query)
	return d.entDriver.QueryContext(ctx, query, args...)
}

func (d *recordingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	d.log.add(d.pool, "Tx", "")
	return d.entDriver.Tx(ctx)
}

func (d *recordingDriver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	d.log.add(d.pool, "BeginTx", "")
	return d.entDriver.BeginTx(ctx, opts)
}

// TestSplitDriverRoutes runs store operations through a split driver whose
// two sides log their calls: reads outside transactions reach the readers
// only, writes (INSERT … RETURNING through Query included) and transactions
// the writer only, and every operation succeeds, which a write sent to a
// query_only reader would not.
func TestSplitDriverRoutes(t *testing.T) {
	ctx := context.Background()
	s := openSplit(t)
	var log routeLog
	s.client = ent.NewClient(ent.Driver(&splitDriver{
		writer: &recordingDriver{entDriver: s.driver(s.db), pool: "writer", log: &log},
		reader: &recordingDriver{entDriver: s.driver(s.reader), pool: "reader", log: &log},
	}))
	for _, tc := range []struct {
		name string
		// want is a call the operation must make; every call it makes
		// must go to want.pool.
		want route
		op   func() error
	}{
		{"create a setting (INSERT … RETURNING through Query)", route{"writer", "Query", "INSERT"}, func() error {
			return s.CreateSetting(ctx, "k", []byte("v"))
		}},
		{"read a setting", route{"reader", "Query", "SELECT"}, func() error {
			v, err := s.Setting(ctx, "k")
			if err == nil && string(v) != "v" {
				err = fmt.Errorf("value %q", v)
			}
			return err
		}},
		{"create an account (transaction)", route{"writer", "Tx", ""}, func() error {
			_, err := s.CreateAccount(ctx, Account{ID: "u1", Kind: KindUser, Username: "alice", Active: true, Roles: []string{"r"}})
			return err
		}},
		{"get an account", route{"reader", "Query", "SELECT"}, func() error {
			_, err := s.GetAccount(ctx, AccountKey{Username: "alice"})
			return err
		}},
		{"update an account (transaction)", route{"writer", "Tx", ""}, func() error {
			_, err := s.UpdateAccount(ctx, "u1", func(a *Account) error { a.DisplayName = "Alice"; return nil })
			return err
		}},
		{"list accounts", route{"reader", "Query", "SELECT"}, func() error {
			as, err := s.ListAccounts(ctx, "", "", 10)
			if err == nil && (len(as) != 1 || as[0].DisplayName != "Alice") {
				err = fmt.Errorf("accounts %+v", as)
			}
			return err
		}},
		{"read the change log", route{"reader", "Query", "SELECT"}, func() error {
			_, err := s.LastChangeSeq(ctx)
			return err
		}},
		{"prune the change log (DELETE)", route{"writer", "Exec", "DELETE"}, func() error {
			_, err := s.PruneChanges(ctx, time.Now().Add(-time.Hour))
			return err
		}},
		{"execquery write", route{"writer", "ExecContext", "UPDATE"}, func() error {
			_, err := s.client.ExecContext(ctx, "UPDATE settings SET value = ? WHERE name = ?", []byte("w"), "k")
			return err
		}},
		{"execquery read", route{"reader", "QueryContext", "SELECT"}, func() error {
			rows, err := s.client.QueryContext(ctx, "SELECT value FROM settings WHERE name = ?", "k")
			if err != nil {
				return err
			}
			defer rows.Close()
			if !rows.Next() {
				return errors.New("no row")
			}
			return rows.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); err != nil {
				t.Fatal(err)
			}
			routes := log.take()
			if len(routes) == 0 {
				t.Fatal("no call reached either pool")
			}
			for _, r := range routes {
				if r.pool != tc.want.pool {
					t.Errorf("%s %s went to the %s, want the %s", r.call, r.op, r.pool, tc.want.pool)
				}
			}
			if !slices.Contains(routes, tc.want) {
				t.Errorf("calls %v, want %v among them", routes, tc.want)
			}
		})
	}
}

// TestReaderIsQueryOnly: the reader connections refuse writes, so a write
// routed to them fails loudly instead of racing the writer.
func TestReaderIsQueryOnly(t *testing.T) {
	ctx := context.Background()
	s := openSplit(t)
	for _, stmt := range []string{
		"INSERT INTO settings (name, value, updated_at) VALUES ('x', x'00', CURRENT_TIMESTAMP)",
		"CREATE TABLE scratch (a INTEGER)",
	} {
		if _, err := s.reader.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Errorf("%q on a reader: %v, want a read-only error", stmt, err)
		}
	}
	if _, err := s.Setting(ctx, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the refused insert left a row: %v", err)
	}
}

// TestReadYourWrites: a goroutine that writes and then reads sees its write,
// although the two run on different connections; several at once, for the
// race detector.
func TestReadYourWrites(t *testing.T) {
	ctx := context.Background()
	s := openSplit(t)
	const workers, rounds = 6, 25
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			errc <- func() error {
				id := fmt.Sprintf("u%d", w)
				if _, err := s.CreateAccount(ctx, Account{ID: id, Kind: KindUser, Username: id, Active: true}); err != nil {
					return err
				}
				if _, err := s.GetAccount(ctx, AccountKey{ID: id}); err != nil {
					return fmt.Errorf("read after create: %w", err)
				}
				for i := range rounds {
					name := fmt.Sprintf("%s-%d", id, i)
					if _, err := s.UpdateAccount(ctx, id, func(a *Account) error { a.DisplayName = name; return nil }); err != nil {
						return err
					}
					a, err := s.GetAccount(ctx, AccountKey{ID: id})
					if err != nil {
						return err
					}
					if a.DisplayName != name {
						return fmt.Errorf("read after update: display name %q, want %q", a.DisplayName, name)
					}
					if err := s.CreateSetting(ctx, name, []byte(name)); err != nil {
						return err
					}
					if v, err := s.Setting(ctx, name); err != nil || string(v) != name {
						return fmt.Errorf("read after create setting: %q, %v", v, err)
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Error(err)
		}
	}
}
