package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestRefreshTokens runs the refresh-token conformance suite on every
// configured backend, each case on a fresh database.
func TestRefreshTokens(t *testing.T) {
	runOnEveryBackend(t, []storeCase{
		{"round trip", testRefreshRoundTrip},
		{"conflicts", testRefreshConflicts},
		{"rotate", testRotate},
		{"rotate check refuses", testRotateCheckRefuses},
		{"replay revokes family", testRotateReplay},
		{"rotate offline", testRotateOffline},
		{"concurrent rotate", testConcurrentRotate},
		{"revoke family", testRevokeFamily},
		{"revoke account", testRevokeAccount},
		{"revoke account counts live sessions only", testRevokeAccountCountsLive},
		{"revoke access token", testRevokeAccessToken},
		{"live sessions", testLiveSessions},
		{"session owner", testSessionOwner},
		{"prune", testPruneRefreshTokens},
	})
}

// TestThrottle runs the login-throttle conformance suite on every configured
// backend, each case on a fresh database.
func TestThrottle(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name string
				fn   func(t *testing.T, s *store.Store)
			}{
				{"lockout", testThrottleLockout},
				{"max over keys", testThrottleMaxOverKeys},
				{"window restarts count", testThrottleWindow},
				{"relock after lockout ends", testThrottleRelock},
				{"reset", testThrottleReset},
				{"concurrent first failures", testThrottleConcurrent},
				{"prune", testPruneThrottles},
			} {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, rtOpen(t, b))
				})
			}
		})
	}
}

// storeCase is one case of a per-backend suite.
type storeCase struct {
	name string
	fn   func(t *testing.T, s *store.Store)
}

// runOnEveryBackend runs cases on every configured backend, each case on a
// fresh database.
func runOnEveryBackend(t *testing.T, cases []storeCase) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, rtOpen(t, b)) })
			}
		})
	}
}

func rtOpen(t *testing.T, b storetest.Backend) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), b.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rtAt returns a fixed instant plus d, in UTC with whole seconds, so that
// both backends store and compare it exactly.
func rtAt(d time.Duration) time.Time {
	return time.Unix(1_700_000_000, 0).UTC().Add(d)
}

const rtDay = 24 * time.Hour

// rtToken is the first token of a family created at created, expiring 30 days later.
func rtToken(id, family, account string, created time.Time) store.RefreshToken {
	return store.RefreshToken{
		ID:              id,
		TokenHash:       rtHash(id),
		FamilyID:        family,
		AccountID:       account,
		ClientID:        "web",
		Scope:           "openid profile",
		CreatedAt:       created,
		FamilyCreatedAt: created,
		LastUsedAt:      created,
		ExpiresAt:       created.Add(30 * rtDay),
	}
}

// rtOffline is an offline token: no absolute expiry.
func rtOffline(id, family, account string, created time.Time) store.RefreshToken {
	t := rtToken(id, family, account, created)
	t.Offline = true
	t.ClientID = "cli"
	t.Scope = "offline_access"
	t.ExpiresAt = time.Time{}
	return t
}

func rtHash(id string) []byte { return []byte("hash:" + id) }

// rtSuccessor is what the service's next callback produces: the old token's
// family and grant with a new id, hash and creation time.
func rtSuccessor(old store.RefreshToken, id string, now time.Time) store.RefreshToken {
	old.ID, old.TokenHash = id, rtHash(id)
	old.CreatedAt, old.LastUsedAt = now, now
	old.RotatedAt, old.RevokedAt = time.Time{}, time.Time{}
	return old
}

func rtNext(id string, now time.Time) func(store.RefreshToken) store.RefreshToken {
	return func(old store.RefreshToken) store.RefreshToken { return rtSuccessor(old, id, now) }
}

func rtAccept(store.RefreshToken) error { return nil }

// rtDiff lists the fields in which got differs from want.
func rtDiff(got, want store.RefreshToken) string {
	var d []string
	str := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if !g.Equal(w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	str("ID", got.ID, want.ID)
	if !bytes.Equal(got.TokenHash, want.TokenHash) {
		d = append(d, fmt.Sprintf("TokenHash = %q, want %q", got.TokenHash, want.TokenHash))
	}
	str("FamilyID", got.FamilyID, want.FamilyID)
	str("AccountID", got.AccountID, want.AccountID)
	str("ClientID", got.ClientID, want.ClientID)
	str("Scope", got.Scope, want.Scope)
	if got.Offline != want.Offline {
		d = append(d, fmt.Sprintf("Offline = %v, want %v", got.Offline, want.Offline))
	}
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("FamilyCreatedAt", got.FamilyCreatedAt, want.FamilyCreatedAt)
	tm("LastUsedAt", got.LastUsedAt, want.LastUsedAt)
	tm("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	tm("RotatedAt", got.RotatedAt, want.RotatedAt)
	tm("RevokedAt", got.RevokedAt, want.RevokedAt)
	return strings.Join(d, "; ")
}

func rtCreate(t *testing.T, s *store.Store, toks ...store.RefreshToken) {
	t.Helper()
	for _, tok := range toks {
		if _, err := s.CreateRefreshToken(context.Background(), tok); err != nil {
			t.Fatalf("CreateRefreshToken(%s): %v", tok.ID, err)
		}
	}
}

// rtGet reads the token with id's hash; it fails the test if it is missing.
func rtGet(t *testing.T, s *store.Store, id string) store.RefreshToken {
	t.Helper()
	got, err := s.RefreshTokenByHash(context.Background(), rtHash(id))
	if err != nil {
		t.Fatalf("RefreshTokenByHash(%s): %v", id, err)
	}
	return got
}

// rtExpect checks that the stored token with want's hash equals want.
func rtExpect(t *testing.T, s *store.Store, label string, want store.RefreshToken) {
	t.Helper()
	got, err := s.RefreshTokenByHash(context.Background(), want.TokenHash)
	if err != nil {
		t.Errorf("%s: RefreshTokenByHash(%s): %v", label, want.ID, err)
		return
	}
	if d := rtDiff(got, want); d != "" {
		t.Errorf("%s: stored token %s: %s", label, want.ID, d)
	}
}

func rtGone(t *testing.T, s *store.Store, label, id string) {
	t.Helper()
	if got, err := s.RefreshTokenByHash(context.Background(), rtHash(id)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: RefreshTokenByHash(%s) = %+v, %v; want ErrNotFound", label, id, got, err)
	}
}

func rtSeq(t *testing.T, s *store.Store) int64 {
	t.Helper()
	seq, err := s.LastChangeSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// rtChanges returns the change-log rows after seq as "kind:subject" strings.
func rtChanges(t *testing.T, s *store.Store, after int64) []string {
	t.Helper()
	cs, err := s.ChangesAfter(context.Background(), after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Kind + ":" + c.Subject
	}
	return out
}

// rtLive returns the ids of the live sessions' tokens of account at now.
func rtLive(t *testing.T, s *store.Store, account string, now time.Time) []string {
	t.Helper()
	ts, err := s.LiveSessions(context.Background(), account, now)
	if err != nil {
		t.Fatalf("LiveSessions(%s): %v", account, err)
	}
	ids := make([]string, len(ts))
	for i, tok := range ts {
		ids[i] = tok.ID
	}
	return ids
}

func testRefreshRoundTrip(t *testing.T, s *store.Store) {
	ctx := context.Background()
	online := rtToken("t1", "f1", "acc1", rtAt(0))
	online.LastUsedAt = rtAt(time.Hour)
	online.FamilyCreatedAt = rtAt(-time.Hour)
	for _, tc := range []struct {
		name string
		tok  store.RefreshToken
	}{
		{"online", online},
		{"offline", rtOffline("t2", "f2", "acc1", rtAt(time.Minute))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.CreateRefreshToken(ctx, tc.tok)
			if err != nil {
				t.Fatal(err)
			}
			if d := rtDiff(got, tc.tok); d != "" {
				t.Errorf("CreateRefreshToken returned: %s", d)
			}
			rtExpect(t, s, "after create", tc.tok)
			if tc.tok.Offline {
				if got := rtGet(t, s, tc.tok.ID); !got.ExpiresAt.IsZero() {
					t.Errorf("offline ExpiresAt = %v, want zero", got.ExpiresAt)
				}
			}
		})
	}
	if got, err := s.RefreshTokenByHash(ctx, []byte("no such hash")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown hash: %+v, %v; want ErrNotFound", got, err)
	}
}

func testRefreshConflicts(t *testing.T, s *store.Store) {
	ctx := context.Background()
	orig := rtToken("t1", "f1", "acc1", rtAt(0))
	rtCreate(t, s, orig)
	dupHash := rtToken("t2", "f2", "acc2", rtAt(time.Hour))
	dupHash.TokenHash = orig.TokenHash
	dupID := rtToken("t1", "f3", "acc3", rtAt(time.Hour))
	dupID.TokenHash = []byte("another hash")
	for _, tc := range []struct {
		name string
		tok  store.RefreshToken
	}{
		{"duplicate hash", dupHash},
		{"duplicate id", dupID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.CreateRefreshToken(ctx, tc.tok); !errors.Is(err, store.ErrConflict) {
				t.Errorf("err = %v, want ErrConflict", err)
			}
			// The original is untouched and the loser left nothing behind.
			rtExpect(t, s, "after conflict", orig)
			if _, err := s.RefreshTokenByHash(ctx, []byte("another hash")); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("conflicting insert was stored: err = %v", err)
			}
		})
	}
}

func testRotate(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a)
	now := rtAt(time.Minute)

	var checked []store.RefreshToken
	nexts := 0
	got, err := s.RotateRefreshToken(ctx, a.TokenHash, now,
		func(old store.RefreshToken) error { checked = append(checked, old); return nil },
		func(old store.RefreshToken) store.RefreshToken { nexts++; return rtSuccessor(old, "b", now) })
	if err != nil {
		t.Fatalf("RotateRefreshToken: %v", err)
	}
	if len(checked) != 1 || nexts != 1 {
		t.Fatalf("check called %d times, next %d times; want 1 each", len(checked), nexts)
	}
	if d := rtDiff(checked[0], a); d != "" {
		t.Errorf("check got old token: %s", d)
	}
	wantB := rtSuccessor(a, "b", now)
	if d := rtDiff(got, wantB); d != "" {
		t.Errorf("RotateRefreshToken returned: %s", d)
	}

	// The old row is marked rotated (and used) now; the successor is stored
	// in the same family.
	wantA := a
	wantA.RotatedAt, wantA.LastUsedAt = now, now
	rtExpect(t, s, "old token", wantA)
	rtExpect(t, s, "successor", wantB)
	if live := rtLive(t, s, "acc1", now); fmt.Sprint(live) != "[b]" {
		t.Errorf("LiveSessions = %v, want [b]", live)
	}

	// The successor rotates in turn.
	later := rtAt(time.Hour)
	if _, err := s.RotateRefreshToken(ctx, wantB.TokenHash, later, rtAccept, rtNext("c", later)); err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	if got := rtGet(t, s, "b"); !got.RotatedAt.Equal(later) {
		t.Errorf("b.RotatedAt = %v, want %v", got.RotatedAt, later)
	}
	if got := rtGet(t, s, "c"); got.FamilyID != "f1" || !got.FamilyCreatedAt.Equal(a.FamilyCreatedAt) {
		t.Errorf("c = %+v, want family f1 begun %v", got, a.FamilyCreatedAt)
	}
	if live := rtLive(t, s, "acc1", later); fmt.Sprint(live) != "[c]" {
		t.Errorf("LiveSessions = %v, want [c]", live)
	}

	// An unknown token is not found, and nothing is called.
	called := false
	_, err = s.RotateRefreshToken(ctx, []byte("no such hash"), later,
		func(store.RefreshToken) error { called = true; return nil },
		func(old store.RefreshToken) store.RefreshToken { called = true; return rtSuccessor(old, "x", later) })
	if !errors.Is(err, store.ErrNotFound) || called {
		t.Errorf("rotate unknown: err = %v (want ErrNotFound), callbacks called = %v", err, called)
	}
}

func testRotateCheckRefuses(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a)
	seq := rtSeq(t, s)
	refused := errors.New("token expired")
	nextCalled := false
	got, err := s.RotateRefreshToken(ctx, a.TokenHash, rtAt(time.Minute),
		func(store.RefreshToken) error { return refused },
		func(old store.RefreshToken) store.RefreshToken {
			nextCalled = true
			return rtSuccessor(old, "b", rtAt(time.Minute))
		})
	if !errors.Is(err, refused) {
		t.Fatalf("err = %v, want the check's error", err)
	}
	if got.ID != "" {
		t.Errorf("refused rotation returned token %+v", got)
	}
	if nextCalled {
		t.Error("next was called although check refused")
	}
	rtExpect(t, s, "refused token is unchanged", a)
	rtGone(t, s, "no successor", "b")
	if live := rtLive(t, s, "acc1", rtAt(time.Minute)); fmt.Sprint(live) != "[a]" {
		t.Errorf("LiveSessions = %v, want [a]", live)
	}
	if cs := rtChanges(t, s, seq); len(cs) != 0 {
		t.Errorf("refused rotation logged %v", cs)
	}
	// The token is still usable: the refusal was not a replay.
	if _, err := s.RotateRefreshToken(ctx, a.TokenHash, rtAt(2*time.Minute), rtAccept, rtNext("b", rtAt(2*time.Minute))); err != nil {
		t.Errorf("rotation after refusal: %v", err)
	}
}

func testRotateReplay(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a := rtToken("a", "f1", "acc1", rtAt(0))
	other := rtToken("o", "f2", "acc1", rtAt(time.Second))
	rtCreate(t, s, a, other)
	t1, t2, t3 := rtAt(time.Minute), rtAt(2*time.Minute), rtAt(3*time.Minute)
	if _, err := s.RotateRefreshToken(ctx, a.TokenHash, t1, rtAccept, rtNext("b", t1)); err != nil {
		t.Fatal(err)
	}
	seq := rtSeq(t, s)

	// Presenting a again is a replay: ErrTokenReused, and the family dies.
	called := false
	got, err := s.RotateRefreshToken(ctx, a.TokenHash, t2,
		func(store.RefreshToken) error { called = true; return nil },
		func(old store.RefreshToken) store.RefreshToken { called = true; return rtSuccessor(old, "x", t2) })
	if !errors.Is(err, store.ErrTokenReused) {
		t.Fatalf("replay err = %v, want ErrTokenReused", err)
	}
	if got.ID != "" || called {
		t.Errorf("replay returned %+v, callbacks called = %v", got, called)
	}
	rtGone(t, s, "replay inserted nothing", "x")
	if got := rtGet(t, s, "a"); !got.RevokedAt.Equal(t2) || !got.RotatedAt.Equal(t1) {
		t.Errorf("replayed token: RevokedAt = %v (want %v), RotatedAt = %v (want %v)", got.RevokedAt, t2, got.RotatedAt, t1)
	}
	if got := rtGet(t, s, "b"); !got.RevokedAt.Equal(t2) {
		t.Errorf("successor RevokedAt = %v, want %v: family not revoked", got.RevokedAt, t2)
	}
	rtExpect(t, s, "other family of the account", other)
	if cs := rtChanges(t, s, seq); fmt.Sprint(cs) != fmt.Sprint([]string{store.ChangeRevokeFamily + ":f1"}) {
		t.Errorf("change log after replay = %v, want [%s:f1]", cs, store.ChangeRevokeFamily)
	}
	if live := rtLive(t, s, "acc1", t2); fmt.Sprint(live) != "[o]" {
		t.Errorf("LiveSessions after replay = %v, want [o]", live)
	}

	// The successor is dead now, and so is the replayed token.
	seq = rtSeq(t, s)
	for _, id := range []string{"b", "a"} {
		if _, err := s.RotateRefreshToken(ctx, rtHash(id), t3, rtAccept, rtNext("y", t3)); !errors.Is(err, store.ErrTokenRevoked) {
			t.Errorf("using %s after the replay: err = %v, want ErrTokenRevoked", id, err)
		}
	}
	rtGone(t, s, "revoked rotation inserted nothing", "y")
	if cs := rtChanges(t, s, seq); len(cs) != 0 {
		t.Errorf("using revoked tokens logged %v", cs)
	}
}

func testRotateOffline(t *testing.T, s *store.Store) {
	ctx := context.Background()
	o := rtOffline("o", "f1", "acc1", rtAt(0))
	rtCreate(t, s, o)
	now := rtAt(time.Minute)
	if _, err := s.RotateRefreshToken(ctx, o.TokenHash, now, rtAccept, rtNext("o2", now)); err != nil {
		t.Fatal(err)
	}
	if got := rtGet(t, s, "o"); !got.RotatedAt.IsZero() || !got.RevokedAt.IsZero() {
		t.Errorf("offline token after RotateRefreshToken: RotatedAt = %v, RevokedAt = %v; want both zero", got.RotatedAt, got.RevokedAt)
	}
	if got := rtGet(t, s, "o2"); !got.Offline || !got.ExpiresAt.IsZero() || got.FamilyID != "f1" {
		t.Errorf("offline successor = %+v", got)
	}
	// Not rotated, so using it again is not a replay.
	later := rtAt(2 * time.Minute)
	if _, err := s.RotateRefreshToken(ctx, o.TokenHash, later, rtAccept, rtNext("o3", later)); err != nil {
		t.Errorf("second use of the offline token: %v", err)
	}
}

// testConcurrentRotate presents one token 50 times at once: exactly one
// caller gets the successor, every other sees a replay or a revoked token.
func testConcurrentRotate(t *testing.T, s *store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a)
	seq := rtSeq(t, s)
	now := rtAt(time.Minute)

	const n = 50
	var checks, nexts atomic.Int32
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.RotateRefreshToken(ctx, a.TokenHash, now,
				func(store.RefreshToken) error { checks.Add(1); return nil },
				func(old store.RefreshToken) store.RefreshToken {
					nexts.Add(1)
					return rtSuccessor(old, fmt.Sprintf("next%02d", i), now)
				})
		})
	}
	close(start)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("concurrent rotations did not finish in time: %v", ctx.Err())
	}

	winner := -1
	var ok, reused, revoked int
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			winner = i
		case errors.Is(err, store.ErrTokenReused):
			reused++
		case errors.Is(err, store.ErrTokenRevoked):
			revoked++
		default:
			t.Errorf("caller %d: unexpected error: %v", i, err)
		}
	}
	t.Logf("%d succeeded, %d saw a replay, %d saw a revoked token", ok, reused, revoked)
	if ok != 1 {
		t.Fatalf("%d callers rotated the token, want exactly 1", ok)
	}
	// The second caller to get the row sees it rotated (a replay) and
	// revokes the family; everyone after sees it revoked.
	if reused != 1 || revoked != n-2 {
		t.Errorf("reused = %d, revoked = %d; want 1 and %d", reused, revoked, n-2)
	}
	if c, x := checks.Load(), nexts.Load(); c != 1 || x != 1 {
		t.Errorf("check called %d times, next %d times; want 1 each", c, x)
	}
	// Exactly one successor exists, and it died with its family.
	for i := range n {
		id := fmt.Sprintf("next%02d", i)
		if i != winner {
			rtGone(t, s, "loser's successor", id)
			continue
		}
		if got := rtGet(t, s, id); !got.RevokedAt.Equal(now) {
			t.Errorf("winner's successor RevokedAt = %v, want %v", got.RevokedAt, now)
		}
	}
	if got := rtGet(t, s, "a"); !got.RotatedAt.Equal(now) || !got.RevokedAt.Equal(now) {
		t.Errorf("contested token: RotatedAt = %v, RevokedAt = %v; want both %v", got.RotatedAt, got.RevokedAt, now)
	}
	if live := rtLive(t, s, "acc1", now); len(live) != 0 {
		t.Errorf("LiveSessions = %v, want none", live)
	}
	want := []string{}
	for range reused {
		want = append(want, store.ChangeRevokeFamily+":f1")
	}
	if cs := rtChanges(t, s, seq); fmt.Sprint(cs) != fmt.Sprint(want) {
		t.Errorf("change log = %v, want %v", cs, want)
	}
}

func testRevokeFamily(t *testing.T, s *store.Store) {
	ctx := context.Background()
	t1, t2, t3 := rtAt(time.Minute), rtAt(2*time.Minute), rtAt(3*time.Minute)
	a := rtToken("a", "f1", "acc1", rtAt(0))
	c := rtToken("c", "f2", "acc1", rtAt(time.Second))
	d := rtToken("d", "f3", "acc2", rtAt(2*time.Second))
	rtCreate(t, s, a, c, d)
	if _, err := s.RotateRefreshToken(ctx, a.TokenHash, t1, rtAccept, rtNext("b", t1)); err != nil {
		t.Fatal(err)
	}
	seq := rtSeq(t, s)
	if err := s.RevokeFamily(ctx, "f1", t2); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if got := rtGet(t, s, id); !got.RevokedAt.Equal(t2) {
			t.Errorf("%s.RevokedAt = %v, want %v", id, got.RevokedAt, t2)
		}
	}
	rtExpect(t, s, "other family, same account", c)
	rtExpect(t, s, "other account", d)
	if cs := rtChanges(t, s, seq); fmt.Sprint(cs) != fmt.Sprint([]string{store.ChangeRevokeFamily + ":f1"}) {
		t.Errorf("change log = %v, want [%s:f1]", cs, store.ChangeRevokeFamily)
	}
	if live := rtLive(t, s, "acc1", t2); fmt.Sprint(live) != "[c]" {
		t.Errorf("LiveSessions = %v, want [c]", live)
	}
	if _, err := s.RotateRefreshToken(ctx, rtHash("b"), t3, rtAccept, rtNext("x", t3)); !errors.Is(err, store.ErrTokenRevoked) {
		t.Errorf("rotating a revoked family's token: err = %v, want ErrTokenRevoked", err)
	}
	// Revoking again keeps the first revocation time.
	if err := s.RevokeFamily(ctx, "f1", t3); err != nil {
		t.Fatal(err)
	}
	if got := rtGet(t, s, "b"); !got.RevokedAt.Equal(t2) {
		t.Errorf("second revocation moved RevokedAt to %v, want %v", got.RevokedAt, t2)
	}
}

func testRevokeAccount(t *testing.T, s *store.Store) {
	ctx := context.Background()
	t1, t2 := rtAt(time.Minute), rtAt(2*time.Minute)
	a := rtToken("a", "f1", "acc1", rtAt(0))
	c := rtOffline("c", "f2", "acc1", rtAt(time.Second))
	d := rtToken("d", "f3", "acc2", rtAt(2*time.Second))
	rtCreate(t, s, a, c, d)
	if _, err := s.RotateRefreshToken(ctx, a.TokenHash, t1, rtAccept, rtNext("b", t1)); err != nil {
		t.Fatal(err)
	}
	if live := rtLive(t, s, "acc1", t2); len(live) != 2 {
		t.Fatalf("LiveSessions before = %v, want 2 sessions", live)
	}
	seq := rtSeq(t, s)
	n, err := s.RevokeAccountTokens(ctx, "acc1", t2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("RevokeAccountTokens = %d, want 2 live sessions", n)
	}
	for _, id := range []string{"a", "b", "c"} {
		if got := rtGet(t, s, id); !got.RevokedAt.Equal(t2) {
			t.Errorf("%s.RevokedAt = %v, want %v", id, got.RevokedAt, t2)
		}
	}
	rtExpect(t, s, "other account", d)
	if live := rtLive(t, s, "acc1", t2); len(live) != 0 {
		t.Errorf("LiveSessions after = %v, want none", live)
	}
	if live := rtLive(t, s, "acc2", t2); fmt.Sprint(live) != "[d]" {
		t.Errorf("other account's LiveSessions = %v, want [d]", live)
	}
	if cs := rtChanges(t, s, seq); fmt.Sprint(cs) != fmt.Sprint([]string{store.ChangeRevokeSubject + ":acc1"}) {
		t.Errorf("change log = %v, want [%s:acc1]", cs, store.ChangeRevokeSubject)
	}
	if n, err := s.RevokeAccountTokens(ctx, "acc1", rtAt(3*time.Minute)); err != nil || n != 0 {
		t.Errorf("second RevokeAccountTokens = %d, %v; want 0", n, err)
	}
}

// testRevokeAccountCountsLive: the count RevokeAccountTokens returns ("how
// many sessions were live", reported by RevokeAllSessions) agrees with
// LiveSessions, which leaves out sessions that expired but are not yet pruned.
func testRevokeAccountCountsLive(t *testing.T, s *store.Store) {
	ctx := context.Background()
	now := rtAt(40 * rtDay)
	expired := rtToken("old", "f1", "acc1", rtAt(0)) // expires at 30 days
	live := rtToken("new", "f2", "acc1", rtAt(35*rtDay))
	rtCreate(t, s, expired, live)
	sessions := rtLive(t, s, "acc1", now)
	if fmt.Sprint(sessions) != "[new]" {
		t.Fatalf("LiveSessions = %v, want [new]", sessions)
	}
	n, err := s.RevokeAccountTokens(ctx, "acc1", now)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(sessions) {
		t.Errorf("RevokeAccountTokens = %d, but LiveSessions listed %d (%v): the count includes sessions that expired before now", n, len(sessions), sessions)
	}
	if got := rtGet(t, s, "old"); !got.RevokedAt.Equal(now) {
		t.Errorf("expired token RevokedAt = %v, want %v", got.RevokedAt, now)
	}
}

func testRevokeAccessToken(t *testing.T, s *store.Store) {
	ctx := context.Background()
	seq := rtSeq(t, s)
	for _, jti := range []string{"jti-1", "jti-2"} {
		if err := s.RevokeAccessToken(ctx, jti); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{store.ChangeRevokeJTI + ":jti-1", store.ChangeRevokeJTI + ":jti-2"}
	if cs := rtChanges(t, s, seq); fmt.Sprint(cs) != fmt.Sprint(want) {
		t.Errorf("change log = %v, want %v", cs, want)
	}
}

func testLiveSessions(t *testing.T, s *store.Store) {
	ctx := context.Background()
	now := rtAt(10 * rtDay)

	rotated := rtToken("rotated", "f1", "acc1", rtAt(0)) // rotated on day 5 into "current"
	revoked := rtToken("revoked", "f2", "acc1", rtAt(2*rtDay))
	expired := rtToken("expired", "f3", "acc1", rtAt(-40*rtDay)) // expired on day -10
	offline := rtOffline("offline", "f4", "acc1", rtAt(3*rtDay))
	recent := rtToken("recent", "f5", "acc1", rtAt(4*rtDay))
	foreign := rtToken("foreign", "f6", "acc2", rtAt(6*rtDay))
	rtCreate(t, s, rotated, revoked, expired, offline, recent, foreign)
	if _, err := s.RotateRefreshToken(ctx, rotated.TokenHash, rtAt(5*rtDay), rtAccept, rtNext("current", rtAt(5*rtDay))); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeFamily(ctx, "f2", rtAt(2*rtDay+time.Hour)); err != nil {
		t.Fatal(err)
	}

	got, err := s.LiveSessions(ctx, "acc1", now)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(got))
	for i, tok := range got {
		ids[i] = tok.ID
	}
	// Newest family first: "current" was created on day 5 but its family
	// began on day 0, so it comes last.
	if fmt.Sprint(ids) != "[recent offline current]" {
		t.Fatalf("LiveSessions = %v, want [recent offline current]", ids)
	}
	if d := rtDiff(got[0], recent); d != "" {
		t.Errorf("recent: %s", d)
	}
	if d := rtDiff(got[1], offline); d != "" {
		t.Errorf("offline: %s", d)
	}
	if d := rtDiff(got[2], rtSuccessor(rotated, "current", rtAt(5*rtDay))); d != "" {
		t.Errorf("current: %s", d)
	}
	// Once "recent" expires (day 34) only the others remain.
	if live := rtLive(t, s, "acc1", rtAt(34*rtDay+time.Second)); fmt.Sprint(live) != "[offline]" {
		t.Errorf("LiveSessions on day 34 = %v, want [offline]", live)
	}
	if live := rtLive(t, s, "nobody", now); len(live) != 0 {
		t.Errorf("LiveSessions(unknown account) = %v, want none", live)
	}
}

func testSessionOwner(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a, rtToken("b", "f2", "acc2", rtAt(0)))
	if _, err := s.RotateRefreshToken(ctx, a.TokenHash, rtAt(time.Minute), rtAccept, rtNext("a2", rtAt(time.Minute))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		family, want string
		err          error
	}{
		{"f1", "acc1", nil},
		{"f2", "acc2", nil},
		{"nope", "", store.ErrNotFound},
	} {
		got, err := s.SessionOwner(ctx, tc.family)
		if got != tc.want || (tc.err == nil && err != nil) || !errors.Is(err, tc.err) {
			t.Errorf("SessionOwner(%s) = %q, %v; want %q, %v", tc.family, got, err, tc.want, tc.err)
		}
	}
}

func testPruneRefreshTokens(t *testing.T, s *store.Store) {
	ctx := context.Background()
	cutoff := rtAt(40 * rtDay)
	rtCreate(t, s,
		rtToken("revoked-old", "fR", "acc1", rtAt(20*rtDay)),
		rtToken("revoked-recent", "fR2", "acc1", rtAt(20*rtDay)),
		rtToken("expired-old", "fE", "acc1", rtAt(0)), // expires day 30
		rtToken("live", "fL", "acc1", rtAt(20*rtDay)),
		rtOffline("offline", "fO", "acc1", rtAt(0)),
	)
	if err := s.RevokeFamily(ctx, "fR", rtAt(21*rtDay)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeFamily(ctx, "fR2", cutoff.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rot := rtAt(25 * rtDay)
	if _, err := s.RotateRefreshToken(ctx, rtHash("live"), rot, rtAccept, rtNext("live2", rot)); err != nil {
		t.Fatal(err)
	}

	n, err := s.PruneRefreshTokens(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("PruneRefreshTokens = %d, want 2", n)
	}
	rtGone(t, s, "revoked before cutoff", "revoked-old")
	rtGone(t, s, "expired before cutoff", "expired-old")
	for _, id := range []string{"revoked-recent", "live", "live2", "offline"} {
		if _, err := s.RefreshTokenByHash(ctx, rtHash(id)); err != nil {
			t.Errorf("%s was pruned: %v", id, err)
		}
	}
	// The kept rotated row still catches a replay.
	if _, err := s.RotateRefreshToken(ctx, rtHash("live"), cutoff, rtAccept, rtNext("x", cutoff)); !errors.Is(err, store.ErrTokenReused) {
		t.Errorf("replay after prune: err = %v, want ErrTokenReused", err)
	}
}

// Throttle.

func thFail(t *testing.T, s *store.Store, key string, now time.Time, p store.ThrottlePolicy) time.Time {
	t.Helper()
	locked, err := s.RecordFailure(context.Background(), key, now, p)
	if err != nil {
		t.Fatalf("RecordFailure(%s, %v): %v", key, now, err)
	}
	return locked
}

func thLocked(t *testing.T, s *store.Store, now time.Time, keys ...string) time.Time {
	t.Helper()
	until, err := s.LockedUntil(context.Background(), now, keys...)
	if err != nil {
		t.Fatalf("LockedUntil(%v, %v): %v", now, keys, err)
	}
	return until
}

// thSteps runs failures for key at the given minutes after rtAt(0) and checks
// the lock each returns: a zero want means "not locked by this failure".
type thStep struct {
	min  time.Duration
	want time.Time
}

func thRun(t *testing.T, s *store.Store, key string, p store.ThrottlePolicy, steps ...thStep) {
	t.Helper()
	for i, st := range steps {
		now := rtAt(st.min * time.Minute)
		if got := thFail(t, s, key, now, p); !got.Equal(st.want) {
			t.Errorf("%s failure %d at +%dm: locked until %v, want %v", key, i+1, st.min, got, st.want)
		}
	}
}

func testThrottleLockout(t *testing.T, s *store.Store) {
	for _, tc := range []struct {
		name string
		p    store.ThrottlePolicy
	}{
		{"max 1", store.ThrottlePolicy{MaxFailures: 1, Window: 10 * time.Minute, Lockout: 15 * time.Minute}},
		{"max 3", store.ThrottlePolicy{MaxFailures: 3, Window: 10 * time.Minute, Lockout: 15 * time.Minute}},
		{"max 5", store.ThrottlePolicy{MaxFailures: 5, Window: time.Hour, Lockout: 2 * time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "user:" + tc.name
			var last time.Time
			for i := 1; i <= tc.p.MaxFailures; i++ {
				last = rtAt(time.Duration(i) * time.Minute)
				got := thFail(t, s, key, last, tc.p)
				if i < tc.p.MaxFailures && !got.IsZero() {
					t.Errorf("failure %d of %d locked until %v", i, tc.p.MaxFailures, got)
				}
				if i == tc.p.MaxFailures && !got.Equal(last.Add(tc.p.Lockout)) {
					t.Fatalf("failure %d of %d: locked until %v, want %v", i, tc.p.MaxFailures, got, last.Add(tc.p.Lockout))
				}
				if i < tc.p.MaxFailures {
					if until := thLocked(t, s, last, key); !until.IsZero() {
						t.Errorf("after %d failures LockedUntil = %v, want zero", i, until)
					}
				}
			}
			end := last.Add(tc.p.Lockout)
			for _, at := range []time.Time{last, last.Add(time.Second), end.Add(-time.Second)} {
				if until := thLocked(t, s, at, key); !until.Equal(end) {
					t.Errorf("LockedUntil(%v) = %v, want %v", at, until, end)
				}
			}
			for _, at := range []time.Time{end, end.Add(time.Second)} {
				if until := thLocked(t, s, at, key); !until.IsZero() {
					t.Errorf("LockedUntil(%v) after the lockout = %v, want zero", at, until)
				}
			}
			if until := thLocked(t, s, last, "user:someone else"); !until.IsZero() {
				t.Errorf("another key is locked until %v", until)
			}
		})
	}
}

func testThrottleMaxOverKeys(t *testing.T, s *store.Store) {
	short := store.ThrottlePolicy{MaxFailures: 2, Window: time.Hour, Lockout: 10 * time.Minute}
	long := store.ThrottlePolicy{MaxFailures: 2, Window: time.Hour, Lockout: time.Hour}
	thRun(t, s, "user:alice", short, thStep{0, time.Time{}}, thStep{1, rtAt(11 * time.Minute)})
	thRun(t, s, "ip:192.0.2.7", long, thStep{0, time.Time{}}, thStep{2, rtAt(62 * time.Minute)})
	thRun(t, s, "client:etl", long, thStep{0, time.Time{}}) // one failure: not locked
	now := rtAt(3 * time.Minute)
	for _, tc := range []struct {
		keys []string
		want time.Time
	}{
		{[]string{"user:alice", "ip:192.0.2.7", "client:etl"}, rtAt(62 * time.Minute)},
		{[]string{"ip:192.0.2.7", "user:alice"}, rtAt(62 * time.Minute)},
		{[]string{"user:alice", "client:etl", "unknown"}, rtAt(11 * time.Minute)},
		{[]string{"client:etl", "unknown"}, time.Time{}},
	} {
		if got := thLocked(t, s, now, tc.keys...); !got.Equal(tc.want) {
			t.Errorf("LockedUntil(%v) = %v, want %v", tc.keys, got, tc.want)
		}
	}
	// After alice's lockout only the address is locked.
	if got := thLocked(t, s, rtAt(30*time.Minute), "user:alice", "ip:192.0.2.7"); !got.Equal(rtAt(62 * time.Minute)) {
		t.Errorf("LockedUntil at +30m = %v, want %v", got, rtAt(62*time.Minute))
	}
	if got := thLocked(t, s, rtAt(30*time.Minute), "user:alice"); !got.IsZero() {
		t.Errorf("alice still locked at +30m until %v", got)
	}
}

func testThrottleWindow(t *testing.T, s *store.Store) {
	p := store.ThrottlePolicy{MaxFailures: 3, Window: 10 * time.Minute, Lockout: 15 * time.Minute}
	// Two failures, then the window passes: the third failure starts a new
	// count of one, so it takes two more to lock.
	thRun(t, s, "user:alice", p,
		thStep{0, time.Time{}},
		thStep{1, time.Time{}},
		thStep{12, time.Time{}}, // window (started at 0) has passed: count 1
		thStep{13, time.Time{}}, // count 2
		thStep{14, rtAt(29 * time.Minute)},
	)
	// The window is measured from its first failure, inclusive of its end.
	thRun(t, s, "user:bob", p,
		thStep{0, time.Time{}},
		thStep{5, time.Time{}},
		thStep{10, rtAt(25 * time.Minute)}, // exactly Window after the start: still counts
	)
}

// testThrottleRelock: once a lockout has ended the key starts afresh and
// MaxFailures new failures lock it again.
func testThrottleRelock(t *testing.T, s *store.Store) {
	p := store.ThrottlePolicy{MaxFailures: 3, Window: 10 * time.Minute, Lockout: 15 * time.Minute}
	thRun(t, s, "user:alice", p,
		thStep{0, time.Time{}},
		thStep{1, time.Time{}},
		thStep{2, rtAt(17 * time.Minute)}, // locked until +17m
	)
	if got := thLocked(t, s, rtAt(20*time.Minute), "user:alice"); !got.IsZero() {
		t.Fatalf("still locked after the lockout: %v", got)
	}
	// After the lockout: three new failures must lock again.
	for i, m := range []time.Duration{20, 21, 22} {
		now := rtAt(m * time.Minute)
		got := thFail(t, s, "user:alice", now, p)
		if i < 2 && !got.IsZero() {
			t.Errorf("failure %d after the lockout locked until %v", i+1, got)
		}
		if i == 2 && !got.Equal(now.Add(p.Lockout)) {
			t.Errorf("failure 3 after the lockout ended: locked until %v, want %v: "+
				"the key can never be locked again (the expired locked_until keeps resetting the count)",
				got, now.Add(p.Lockout))
		}
	}
	if got := thLocked(t, s, rtAt(23*time.Minute), "user:alice"); !got.Equal(rtAt(37 * time.Minute)) {
		t.Errorf("LockedUntil after the second lockout = %v, want %v", got, rtAt(37*time.Minute))
	}
}

func testThrottleReset(t *testing.T, s *store.Store) {
	ctx := context.Background()
	p := store.ThrottlePolicy{MaxFailures: 3, Window: time.Hour, Lockout: time.Hour}
	// Reset clears the count...
	thRun(t, s, "user:alice", p, thStep{0, time.Time{}}, thStep{1, time.Time{}})
	if err := s.ResetFailures(ctx, "user:alice"); err != nil {
		t.Fatal(err)
	}
	thRun(t, s, "user:alice", p, thStep{2, time.Time{}}, thStep{3, time.Time{}}, thStep{4, rtAt(64 * time.Minute)})
	// ...and a lockout.
	if got := thLocked(t, s, rtAt(5*time.Minute), "user:alice"); !got.Equal(rtAt(64 * time.Minute)) {
		t.Fatalf("LockedUntil = %v, want %v", got, rtAt(64*time.Minute))
	}
	if err := s.ResetFailures(ctx, "user:alice"); err != nil {
		t.Fatal(err)
	}
	if got := thLocked(t, s, rtAt(5*time.Minute), "user:alice"); !got.IsZero() {
		t.Errorf("LockedUntil after reset = %v, want zero", got)
	}
	thRun(t, s, "user:alice", p, thStep{6, time.Time{}})
	// Other keys are not reset; resetting an unknown key is no error.
	thRun(t, s, "user:bob", p, thStep{0, time.Time{}}, thStep{1, time.Time{}})
	if err := s.ResetFailures(ctx, "user:nobody"); err != nil {
		t.Errorf("ResetFailures(unknown) = %v", err)
	}
	thRun(t, s, "user:bob", p, thStep{2, rtAt(62 * time.Minute)})
}

// testThrottleConcurrent records 20 failures of a fresh key at once, with
// MaxFailures 20: every failure counts (locked read-modify-write, and the
// concurrent first inserts retried), so exactly one call locks the key.
func testThrottleConcurrent(t *testing.T, s *store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 20
	p := store.ThrottlePolicy{MaxFailures: n, Window: time.Hour, Lockout: 15 * time.Minute}
	now := rtAt(0)
	locks := make([]time.Time, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			locks[i], errs[i] = s.RecordFailure(ctx, "ip:198.51.100.1", now, p)
		})
	}
	close(start)
	wg.Wait()
	locked := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("RecordFailure %d: %v", i, errs[i])
			continue
		}
		if !locks[i].IsZero() {
			locked++
			if !locks[i].Equal(now.Add(p.Lockout)) {
				t.Errorf("RecordFailure %d locked until %v, want %v", i, locks[i], now.Add(p.Lockout))
			}
		}
	}
	if locked != 1 {
		t.Errorf("%d of %d concurrent failures locked the key, want exactly 1 (lost or double-counted failures)", locked, n)
	}
	if got := thLocked(t, s, now, "ip:198.51.100.1"); !got.Equal(now.Add(p.Lockout)) {
		t.Errorf("LockedUntil = %v, want %v", got, now.Add(p.Lockout))
	}
}

func testPruneThrottles(t *testing.T, s *store.Store) {
	ctx := context.Background()
	cutoff := rtAt(time.Hour)
	count := store.ThrottlePolicy{MaxFailures: 2, Window: 2 * time.Hour, Lockout: 10 * time.Minute}
	lockShort := store.ThrottlePolicy{MaxFailures: 1, Window: time.Hour, Lockout: 10 * time.Minute}
	lockLong := store.ThrottlePolicy{MaxFailures: 1, Window: time.Hour, Lockout: 2 * time.Hour}
	thRun(t, s, "old", count, thStep{0, time.Time{}})                           // window began before cutoff, never locked: pruned
	thRun(t, s, "old-lock-ended", lockShort, thStep{0, rtAt(10 * time.Minute)}) // lock ended before cutoff: pruned
	thRun(t, s, "old-lock-running", lockLong, thStep{0, rtAt(2 * time.Hour)})   // lock runs past cutoff: kept
	thRun(t, s, "recent", count, thStep{90, time.Time{}})                       // window began after cutoff: kept
	n, err := s.PruneThrottles(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("PruneThrottles = %d, want 2", n)
	}
	if got := thLocked(t, s, rtAt(95*time.Minute), "old-lock-running"); !got.Equal(rtAt(2 * time.Hour)) {
		t.Errorf("running lockout was pruned: LockedUntil = %v", got)
	}
	// The recent counter survived: its second failure locks.
	thRun(t, s, "recent", count, thStep{91, rtAt(101 * time.Minute)})
	if n, err := s.PruneThrottles(ctx, cutoff); err != nil || n != 0 {
		t.Errorf("second PruneThrottles = %d, %v; want 0", n, err)
	}
}
