package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestRotateLiveRefreshToken runs the cases of the rotation fast path on
// every configured backend, each case on a fresh database.
func TestRotateLiveRefreshToken(t *testing.T) {
	runOnEveryBackend(t, []storeCase{
		{"rotates a live token", testLiveRotate},
		{"refuses a token that is not live", testLiveRefuses},
		{"concurrent rotations", testLiveConcurrent},
	})
}

// rtAccount creates an active user account with id.
func rtAccount(t *testing.T, s *store.Store, id string) {
	t.Helper()
	if _, err := s.CreateAccount(context.Background(), user(id, "user-"+id)); err != nil {
		t.Fatalf("CreateAccount(%s): %v", id, err)
	}
}

func testLiveRotate(t *testing.T, s *store.Store) {
	ctx := context.Background()
	rtAccount(t, s, "acc1")
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a)
	seq := rtSeq(t, s)
	now := rtAt(time.Minute)

	old := rtGet(t, s, "a")
	b := rtSuccessor(old, "b", now)
	ok, err := s.RotateLiveRefreshToken(ctx, old, b, now)
	if err != nil || !ok {
		t.Fatalf("RotateLiveRefreshToken(a) = %v, %v; want true, nil", ok, err)
	}
	// The same rows RotateRefreshToken writes (testRotate).
	wantA := a
	wantA.RotatedAt, wantA.LastUsedAt = now, now
	rtExpect(t, s, "old token", wantA)
	rtExpect(t, s, "successor", b)
	if live := rtLive(t, s, "acc1", now); fmt.Sprint(live) != "[b]" {
		t.Errorf("LiveSessions = %v, want [b]", live)
	}

	// The successor rotates in turn, and a token without absolute expiry
	// keeps none.
	later := rtAt(time.Hour)
	oldB := rtGet(t, s, "b")
	c := rtSuccessor(oldB, "c", later)
	if ok, err := s.RotateLiveRefreshToken(ctx, oldB, c, later); err != nil || !ok {
		t.Fatalf("RotateLiveRefreshToken(b) = %v, %v; want true, nil", ok, err)
	}
	rtExpect(t, s, "second successor", c)

	n := rtToken("n", "f2", "acc1", rtAt(0))
	n.ExpiresAt = time.Time{}
	rtCreate(t, s, n)
	m := rtSuccessor(rtGet(t, s, "n"), "m", later)
	if ok, err := s.RotateLiveRefreshToken(ctx, rtGet(t, s, "n"), m, later); err != nil || !ok {
		t.Fatalf("RotateLiveRefreshToken(n) = %v, %v; want true, nil", ok, err)
	}
	rtExpect(t, s, "successor without expiry", m)

	// Rotation is no revocation: nothing for the replicas.
	if cs := rtChanges(t, s, seq); len(cs) != 0 {
		t.Errorf("change log = %v, want nothing", cs)
	}
}

// testLiveRefuses: whatever makes a token not live between the caller's
// read and the write leaves everything as it was and reports false.
func testLiveRefuses(t *testing.T, s *store.Store) {
	now := rtAt(time.Minute)
	audited := store.AuditEvent{Type: "test.event", Target: "x"}
	for _, tc := range []struct {
		name    string
		offline bool
		// change runs after the caller's read, before the rotation.
		change func(t *testing.T, s *store.Store, tok store.RefreshToken)
		// forge alters what the caller passes.
		forge func(old, next *store.RefreshToken)
		ctx   func(context.Context) context.Context
	}{
		{name: "rotated meanwhile", change: func(t *testing.T, s *store.Store, tok store.RefreshToken) {
			if _, err := s.RotateRefreshToken(context.Background(), tok.TokenHash, rtAt(time.Second), rtAccept, rtNext(tok.ID+"-other", rtAt(time.Second))); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "family revoked", change: func(t *testing.T, s *store.Store, tok store.RefreshToken) {
			if err := s.RevokeFamily(context.Background(), tok.FamilyID, rtAt(time.Second)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "account tokens revoked", change: func(t *testing.T, s *store.Store, tok store.RefreshToken) {
			if _, err := s.RevokeAccountTokens(context.Background(), tok.AccountID, rtAt(time.Second)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "account disabled", change: func(t *testing.T, s *store.Store, tok store.RefreshToken) {
			if _, err := s.UpdateAccount(context.Background(), tok.AccountID, func(a *store.Account) error { a.Active = false; return nil }); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "account deleted", change: func(t *testing.T, s *store.Store, tok store.RefreshToken) {
			if err := s.DeleteAccount(context.Background(), tok.AccountID); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "offline token", offline: true},
		{name: "offline row passed as online", offline: true, forge: func(old, next *store.RefreshToken) {
			old.Offline, next.Offline = false, false
		}},
		{name: "other hash", forge: func(old, _ *store.RefreshToken) { old.TokenHash = rtHash("someone else") }},
		{name: "successor of another family", forge: func(_, next *store.RefreshToken) { next.FamilyID = "elsewhere" }},
		{name: "successor of another account", forge: func(_, next *store.RefreshToken) { next.AccountID = "elsewhere" }},
		{name: "audit events pending", ctx: func(ctx context.Context) context.Context { return store.WithAudit(ctx, audited) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.ReplaceAll(tc.name, " ", "-")
			acct := "acc-" + id
			rtAccount(t, s, acct)
			tok := rtToken(id, "fam-"+id, acct, rtAt(0))
			if tc.offline {
				tok = rtOffline(id, "fam-"+id, acct, rtAt(0))
			}
			rtCreate(t, s, tok)
			old := rtGet(t, s, id)
			next := rtSuccessor(old, id+"-next", now)
			if tc.change != nil {
				tc.change(t, s, old)
			}
			if tc.forge != nil {
				tc.forge(&old, &next)
			}
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx(ctx)
			}
			before := rtGet(t, s, id)
			seq := rtSeq(t, s)

			ok, err := s.RotateLiveRefreshToken(ctx, old, next, now)
			if err != nil || ok {
				t.Fatalf("RotateLiveRefreshToken = %v, %v; want false, nil", ok, err)
			}
			rtExpect(t, s, "presented token", before)
			rtGone(t, s, "successor", id+"-next")
			if cs := rtChanges(t, s, seq); len(cs) != 0 {
				t.Errorf("change log = %v, want nothing", cs)
			}

			if tc.ctx != nil {
				// The pending events are left for the transactional path.
				if _, err := s.RotateRefreshToken(ctx, old.TokenHash, now, rtAccept, rtNext(id+"-next", now)); err != nil {
					t.Fatalf("RotateRefreshToken: %v", err)
				}
				evs, err := s.ListAuditEvents(context.Background(), store.AuditFilter{Type: audited.Type}, 0, 10)
				if err != nil || len(evs) != 1 {
					t.Errorf("audit events after the rotation = %v, %v; want the one pending", evs, err)
				}
			}
		})
	}
}

// testLiveConcurrent: of many callers presenting one token at once exactly
// one rotates it on the fast path; the others fall back to
// RotateRefreshTokenGrace, which handles them as it always did.
func testLiveConcurrent(t *testing.T, s *store.Store) {
	const n = 16
	now := rtAt(time.Minute)
	for _, tc := range []struct {
		name  string
		grace time.Duration
		// derived: every caller's successor has the same hash, as the
		// service's are (derived from the presented token); otherwise each
		// caller has its own.
		derived bool
	}{
		{"derived successors within the grace", rtGrace, true},
		{"own successors without grace", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			id := strings.ReplaceAll(tc.name, " ", "-")
			acct, fam := "acc-"+id, "fam-"+id
			rtAccount(t, s, acct)
			rtCreate(t, s, rtToken(id, fam, acct, rtAt(0)))
			old := rtGet(t, s, id) // every caller read the token before anyone rotated it
			seq := rtSeq(t, s)
			next := func(i int) func(store.RefreshToken) store.RefreshToken {
				return func(cur store.RefreshToken) store.RefreshToken {
					succ := rtSuccessor(cur, fmt.Sprintf("%s-next%02d", id, i), now)
					if tc.derived {
						succ.TokenHash = rtHash(id + "-next")
					}
					return succ
				}
			}

			fast := make([]bool, n)
			got := make([]store.RefreshToken, n)
			retry := make([]bool, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					fast[i], errs[i] = s.RotateLiveRefreshToken(ctx, old, next(i)(old), now)
					if errs[i] != nil || fast[i] {
						return
					}
					got[i], retry[i], errs[i] = s.RotateRefreshTokenGrace(ctx, old.TokenHash, now, tc.grace, rtAccept, next(i))
				})
			}
			close(start)
			wg.Wait()
			if ctx.Err() != nil {
				t.Fatalf("concurrent rotations did not finish in time: %v", ctx.Err())
			}

			winner := slices.Index(fast, true)
			var wins, retries, reused, revoked int
			for i, err := range errs {
				switch {
				case err == nil && fast[i]:
					wins++
				case err == nil && retry[i]:
					retries++
					if got[i].ID != fmt.Sprintf("%s-next%02d", id, winner) {
						t.Errorf("caller %d: retry returned %s, want the winner's successor", i, got[i].ID)
					}
				case errors.Is(err, store.ErrTokenReused):
					reused++
				case errors.Is(err, store.ErrTokenRevoked):
					revoked++
				default:
					t.Errorf("caller %d: fast %v, retry %v, err %v", i, fast[i], retry[i], err)
				}
			}
			t.Logf("%d rotated on the fast path, %d retried, %d saw a replay, %d a revoked token", wins, retries, reused, revoked)
			if wins != 1 {
				t.Fatalf("%d callers rotated on the fast path, want exactly 1", wins)
			}
			// Exactly one successor was written.
			for i := range n {
				sid := fmt.Sprintf("%s-next%02d", id, i)
				_, err := s.RefreshTokenByHash(context.Background(), next(i)(old).TokenHash)
				switch {
				case i == winner && err != nil:
					t.Errorf("winner's successor %s: %v", sid, err)
				case i != winner && !tc.derived && !errors.Is(err, store.ErrNotFound):
					t.Errorf("loser's successor %s: err %v, want ErrNotFound", sid, err)
				}
			}
			if tc.grace > 0 {
				if retries != n-1 {
					t.Errorf("%d retried, want %d", retries, n-1)
				}
				if cs := rtChanges(t, s, seq); len(cs) != 0 {
					t.Errorf("change log = %v, want nothing", cs)
				}
				return
			}
			// As in testConcurrentRotate: the first to fall back sees a
			// replay and revokes the family; everyone after sees it revoked.
			if reused != 1 || revoked != n-2 {
				t.Errorf("reused = %d, revoked = %d; want 1 and %d", reused, revoked, n-2)
			}
			if cs := rtChanges(t, s, seq); fmt.Sprint(cs) != fmt.Sprint([]string{store.ChangeRevokeFamily + ":" + fam}) {
				t.Errorf("change log = %v, want the revocation of %s", cs, fam)
			}
			if live := rtLive(t, s, acct, now); len(live) != 0 {
				t.Errorf("LiveSessions = %v, want none", live)
			}
		})
	}
}

// TestRotateLiveRefreshTokenStatements counts the database work of a fast
// rotation in the store's trace spans: on PostgreSQL one statement and no
// transaction of the store's own (RotateRefreshTokenGrace: BEGIN, SELECT
// ... FOR UPDATE, UPDATE, INSERT, COMMIT); on SQLite one transaction that
// reads nothing.
func TestRotateLiveRefreshTokenStatements(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			s, err := store.Open(context.Background(), b.DSN(t), store.WithTracerProvider(tp))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			rtAccount(t, s, "acc1")
			rtCreate(t, s, rtToken("a", "f1", "acc1", rtAt(0)))
			now := rtAt(time.Minute)
			old := rtGet(t, s, "a")

			// dbSpans runs fn under a recording span and returns the names
			// of the database spans it made, in the order they ended.
			dbSpans := func(fn func(ctx context.Context)) []string {
				ctx, span := tp.Tracer("test").Start(context.Background(), "refresh")
				fn(ctx)
				span.End()
				var names []string
				for _, sp := range rec.Ended() {
					if strings.HasPrefix(sp.Name(), "db.") && sp.SpanContext().TraceID() == span.SpanContext().TraceID() {
						names = append(names, sp.Name())
					}
				}
				return names
			}
			fast := dbSpans(func(ctx context.Context) {
				if ok, err := s.RotateLiveRefreshToken(ctx, old, rtSuccessor(old, "b", now), now); err != nil || !ok {
					t.Fatalf("RotateLiveRefreshToken = %v, %v; want true, nil", ok, err)
				}
			})
			slow := dbSpans(func(ctx context.Context) {
				if _, err := s.RotateRefreshToken(ctx, rtHash("b"), now, rtAccept, rtNext("c", now)); err != nil {
					t.Fatalf("RotateRefreshToken: %v", err)
				}
			})
			t.Logf("fast path: %v; RotateRefreshTokenGrace: %v", fast, slow)
			switch b.Name {
			case "postgres":
				if fmt.Sprint(fast) != "[db.exec]" {
					t.Errorf("fast path database spans = %v, want exactly one statement [db.exec]", fast)
				}
			default:
				if slices.Contains(fast, "db.query") || countOf(fast, "db.tx") != 1 {
					t.Errorf("fast path database spans = %v, want one transaction and no read", fast)
				}
			}
		})
	}
}

func countOf(names []string, name string) int {
	n := 0
	for _, s := range names {
		if s == name {
			n++
		}
	}
	return n
}
