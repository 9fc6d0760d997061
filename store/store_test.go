package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestConformance runs the same suite on every configured backend.
func TestConformance(t *testing.T) {
	runOnEveryBackend(t, []storeCase{
		{"accounts", testAccounts},
		{"uniqueness", testUniqueness},
		{"update", testUpdate},
		{"pagination", testPagination},
		{"changelog", testChangeLog},
		{"keys", testKeys},
		{"concurrent writes", testConcurrentWrites},
		{"deleting an account drops its links", testDeleteAccountDropsLinks},
	})
}

func user(id, name string, roles ...string) store.Account {
	return store.Account{ID: id, Kind: store.KindUser, Username: name, Email: name + "@example.com", Active: true, PasswordHash: "$argon2id$x", Roles: roles}
}

func testAccounts(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a, err := s.CreateAccount(ctx, user("u1", "alice", "b", "a", "a"))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a.Roles) != "[a b]" {
		t.Errorf("roles = %v, want sorted and unique", a.Roles)
	}
	c, err := s.CreateAccount(ctx, store.Account{ID: "c1", Kind: store.KindService, ClientID: "svc", SecretHash: []byte{1, 2, 3}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []store.AccountKey{{ID: "u1"}, {Username: "alice"}, {Email: "alice@example.com"}} {
		got, err := s.GetAccount(ctx, key)
		if err != nil {
			t.Fatalf("GetAccount(%+v): %v", key, err)
		}
		if got.ID != "u1" || got.Username != "alice" || got.PasswordHash != "$argon2id$x" || fmt.Sprint(got.Roles) != "[a b]" || !got.Active {
			t.Errorf("GetAccount(%+v) = %+v", key, got)
		}
	}
	got, err := s.GetAccount(ctx, store.AccountKey{ClientID: "svc"})
	if err != nil || got.ID != c.ID || string(got.SecretHash) != "\x01\x02\x03" || got.Kind != store.KindService {
		t.Errorf("GetAccount(client) = %+v, %v", got, err)
	}
	for _, key := range []store.AccountKey{{ID: "nope"}, {Username: "bob"}, {}} {
		if _, err := s.GetAccount(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetAccount(%+v) err = %v, want ErrNotFound", key, err)
		}
	}
	if err := s.DeleteAccount(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAccount(ctx, store.AccountKey{ID: "u1"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete err = %v", err)
	}
	if err := s.DeleteAccount(ctx, "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete err = %v, want ErrNotFound", err)
	}
	if n, err := s.CountAccounts(ctx); err != nil || n != 1 {
		t.Errorf("CountAccounts = %d, %v", n, err)
	}
}

func testUniqueness(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, user("u1", "alice")); err != nil {
		t.Fatal(err)
	}
	dupName := user("u2", "alice")
	dupName.Email = "other@example.com"
	dupEmail := user("u3", "bob")
	dupEmail.Email = "alice@example.com"
	for name, a := range map[string]store.Account{"username": dupName, "email": dupEmail, "id": user("u1", "carol")} {
		if _, err := s.CreateAccount(ctx, a); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate %s: err = %v, want ErrConflict", name, err)
		}
	}
	// A failed insert must leave nothing behind, not even a change-log row.
	all, err := s.AllAccounts(ctx)
	if err != nil || len(all) != 1 {
		t.Errorf("accounts after conflicts = %d, %v", len(all), err)
	}
	changes, _ := s.ChangesAfter(ctx, 0, 100)
	if len(changes) != 1 {
		t.Errorf("change log has %d rows after one successful insert", len(changes))
	}
}

func testUpdate(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, user("u1", "alice", "viewer")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, user("u2", "bob")); err != nil {
		t.Fatal(err)
	}
	a, err := s.UpdateAccount(ctx, "u1", func(a *store.Account) error {
		a.Active = false
		a.Roles = []string{"admin", "viewer", "admin"}
		a.Email = ""
		a.DisplayName = "Alice"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetAccount(ctx, store.AccountKey{ID: "u1"})
	if got.Active || got.Email != "" || got.DisplayName != "Alice" || fmt.Sprint(got.Roles) != "[admin viewer]" || fmt.Sprint(a.Roles) != "[admin viewer]" {
		t.Errorf("after update: %+v", got)
	}
	// fn's error aborts without change.
	boom := errors.New("boom")
	if _, err := s.UpdateAccount(ctx, "u1", func(a *store.Account) error { a.Active = true; return boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
	if got, _ := s.GetAccount(ctx, store.AccountKey{ID: "u1"}); got.Active {
		t.Error("aborted update was stored")
	}
	// Taking another account's email is a conflict and changes nothing.
	if _, err := s.UpdateAccount(ctx, "u1", func(a *store.Account) error { a.Email = "bob@example.com"; return nil }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("email conflict err = %v", err)
	}
	if _, err := s.UpdateAccount(ctx, "nope", func(*store.Account) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing err = %v", err)
	}
}

func testPagination(t *testing.T, s *store.Store) {
	ctx := context.Background()
	for i := range 7 {
		if _, err := s.CreateAccount(ctx, user(fmt.Sprintf("u%02d", i), fmt.Sprintf("user%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateAccount(ctx, store.Account{ID: "c1", Kind: store.KindService, ClientID: "svc", Active: true}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	after := ""
	for {
		page, err := s.ListAccounts(ctx, store.KindUser, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			seen = append(seen, a.ID)
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].ID
	}
	if fmt.Sprint(seen) != "[u00 u01 u02 u03 u04 u05 u06]" {
		t.Errorf("paged users = %v", seen)
	}
}

func testChangeLog(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if seq, err := s.LastChangeSeq(ctx); err != nil || seq != 0 {
		t.Fatalf("empty LastChangeSeq = %d, %v", seq, err)
	}
	s.CreateAccount(ctx, user("u1", "alice"))
	s.UpdateAccount(ctx, "u1", func(a *store.Account) error { a.Active = false; return nil })
	s.DeleteAccount(ctx, "u1")
	changes, err := s.ChangesAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 {
		t.Fatalf("got %d changes, want 3 (create, update, delete)", len(changes))
	}
	for i, c := range changes {
		if c.Kind != store.ChangeAccount || c.Subject != "u1" || (i > 0 && c.Seq <= changes[i-1].Seq) {
			t.Errorf("change %d = %+v", i, c)
		}
	}
	last, _ := s.LastChangeSeq(ctx)
	if last != changes[2].Seq {
		t.Errorf("LastChangeSeq = %d, want %d", last, changes[2].Seq)
	}
	if rest, _ := s.ChangesAfter(ctx, changes[0].Seq, 100); len(rest) != 2 {
		t.Errorf("ChangesAfter(first) = %d rows, want 2", len(rest))
	}
	n, err := s.PruneChanges(ctx, time.Now().Add(time.Minute))
	if err != nil || n != 3 {
		t.Errorf("PruneChanges = %d, %v", n, err)
	}
}

func testKeys(t *testing.T, s *store.Store) {
	ctx := context.Background()
	k := store.SigningKey{KID: "k1", Alg: "ES256", State: store.KeyActive, PublicJWK: []byte(`{"kty":"EC"}`), PrivateSealed: []byte{9}, ActivatedAt: time.Now()}
	create := func(keys []store.SigningKey) (store.KeyChanges, error) {
		return store.KeyChanges{Create: []store.SigningKey{k}}, nil
	}
	if err := s.ChangeKeys(ctx, create); err != nil {
		t.Fatal(err)
	}
	if err := s.ChangeKeys(ctx, create); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate kid err = %v", err)
	}
	keys, err := s.SigningKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].KID != "k1" || keys[0].State != store.KeyActive || keys[0].ActivatedAt.IsZero() || string(keys[0].PrivateSealed) != "\x09" {
		t.Errorf("SigningKeys = %+v, %v", keys, err)
	}
	changes, _ := s.ChangesAfter(ctx, 0, 10)
	if len(changes) != 1 || changes[0].Kind != store.ChangeKey || changes[0].Subject != "k1" {
		t.Errorf("key change log = %+v", changes)
	}
}

// testConcurrentWrites checks that parallel role updates on one account all
// land (no lost update) and each writes its change-log row.
func testConcurrentWrites(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if _, err := s.CreateAccount(ctx, user("u1", "alice")); err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.UpdateAccount(ctx, "u1", func(a *store.Account) error {
				a.Roles = append(a.Roles, fmt.Sprintf("r%d", i))
				return nil
			})
			errc <- err
		})
	}
	wg.Wait()
	close(errc)
	failed := 0
	for err := range errc {
		if err != nil {
			failed++
			t.Logf("concurrent update: %v", err)
		}
	}
	got, _ := s.GetAccount(ctx, store.AccountKey{ID: "u1"})
	if len(got.Roles) != n-failed {
		t.Errorf("roles = %v after %d successful updates: lost update", got.Roles, n-failed)
	}
	changes, _ := s.ChangesAfter(ctx, 0, 100)
	if len(changes) != 1+n-failed {
		t.Errorf("change log rows = %d, want %d", len(changes), 1+n-failed)
	}
}

// TestConcurrentNewRole: accounts created at the same time with the same new
// role all succeed (the role row is created once).
func TestConcurrentNewRole(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s, err := store.Open(context.Background(), b.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var wg sync.WaitGroup
			errc := make(chan error, 8)
			for i := range 8 {
				wg.Go(func() {
					_, err := s.CreateAccount(context.Background(), user(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i), "brand-new-role"))
					errc <- err
				})
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				if err != nil {
					t.Errorf("create with a new role: %v", err)
				}
			}
		})
	}
}

func testDeleteAccountDropsLinks(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a, err := s.CreateAccount(ctx, user("01000000-0000-7000-8000-00000000000a", "linked"))
	if err != nil {
		t.Fatal(err)
	}
	link := store.FederatedLink{IssuerID: "issuer-1", Subject: "tenant:object", AccountID: a.ID, CreatedBy: "admin", CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if _, err := s.CreateFederatedLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FederatedLink(ctx, "issuer-1", "tenant:object"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("link of a deleted account: %v, want ErrNotFound", err)
	}
	// The identity can be linked again.
	if _, err := s.CreateFederatedLink(ctx, link); err != nil {
		t.Fatalf("relink after the account was deleted: %v", err)
	}
}

// TestSQLiteConnections: a SQLite file gets one writer connection and a
// bounded reader pool; a database a second connection would not share (in
// memory, a shared cache) keeps its single connection and works through it;
// PostgreSQL has one pool.
func TestSQLiteConnections(t *testing.T) {
	ctx := context.Background()
	file := func(t *testing.T) string { return storetest.SQLiteDSN(t) }
	for _, tc := range []struct {
		name    string
		dsn     func(t *testing.T) string
		readers bool
	}{
		{"file", file, true},
		{"file: URI", func(t *testing.T) string { return "file:" + file(t) }, true},
		{":memory:", func(*testing.T) string { return ":memory:" }, false},
		{"file::memory:", func(*testing.T) string { return "file::memory:" }, false},
		{"mode=memory", func(t *testing.T) string { return "file:" + t.Name() + "?mode=memory&cache=shared" }, false},
		{"cache=shared file", func(t *testing.T) string { return "file:" + file(t) + "?cache=shared" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := store.Open(ctx, tc.dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n := s.Pool().Stats().MaxOpenConnections; n != 1 {
				t.Errorf("writer pool of %d connections, want 1", n)
			}
			r := s.ReaderPool()
			if (r != nil) != tc.readers {
				t.Fatalf("reader pool %v, want one: %v", r != nil, tc.readers)
			}
			if r != nil {
				if n := r.Stats().MaxOpenConnections; n < 2 || n > 16 {
					t.Errorf("reader pool of %d connections, want a bound in [2, 16]", n)
				}
			}
			// Whatever the connections, reads see the writes.
			if _, err := s.CreateAccount(ctx, user("u1", "alice", "r")); err != nil {
				t.Fatal(err)
			}
			if a, err := s.GetAccount(ctx, store.AccountKey{Username: "alice"}); err != nil || a.ID != "u1" {
				t.Errorf("read after write = %+v, %v", a, err)
			}
		})
	}
	if storetest.PostgresConfigured() {
		t.Run("postgres", func(t *testing.T) {
			s, err := store.Open(ctx, storetest.PostgresDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.ReaderPool() != nil {
				t.Error("PostgreSQL has a reader pool, want its one pool")
			}
		})
	}
}

// TestSQLiteReadersOnAFreshFile: the readers connect before the schema
// exists (gatehouse serve opens without migrating, then migrates) and see
// the tables once Migrate has created them.
func TestSQLiteReadersOnAFreshFile(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, storetest.SQLiteDSN(t), store.WithoutMigration())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.ReaderPool() == nil {
		t.Fatal("no reader pool")
	}
	if s.ReaderPool().Stats().OpenConnections == 0 {
		t.Fatal("the readers did not connect at Open")
	}
	if _, err := s.GetAccount(ctx, store.AccountKey{ID: "u1"}); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read before migrating: %v, want a missing table", err)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, user("u1", "alice", "r")); err != nil {
		t.Fatal(err)
	}
	// Reads one at a time reuse the idle reader that connected at Open.
	if a, err := s.GetAccount(ctx, store.AccountKey{ID: "u1"}); err != nil || a.Username != "alice" {
		t.Fatalf("read after migrating = %+v, %v", a, err)
	}
	if n := s.ReaderPool().Stats().OpenConnections; n != 1 {
		t.Errorf("%d reader connections, want the one from Open", n)
	}
}
