package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// TestRefreshReuseGrace runs the reuse-grace cases of refresh rotation on
// every configured backend, each case on a fresh database.
func TestRefreshReuseGrace(t *testing.T) {
	runOnEveryBackend(t, []storeCase{
		{"retry within grace", testGraceRetry},
		{"replay after grace revokes", testGraceExpired},
		{"replay after successor used revokes", testGraceSuccessorUsed},
		{"grace 0 revokes", testGraceDisabled},
		{"unknown successor revokes", testGraceUnknownSuccessor},
		{"retry of a revoked session", testGraceRevokedFamily},
		{"retry check refuses", testGraceCheckRefuses},
		{"concurrent rotate within grace", testGraceConcurrent},
	})
}

const rtGrace = 10 * time.Second

// rtGraceRotate rotates a to b at t1 with the grace and checks the first
// rotation is not reported as a retry.
func rtGraceRotate(t *testing.T, s *store.Store, from, to string, at time.Time) store.RefreshToken {
	t.Helper()
	got, retry, err := s.RotateRefreshTokenGrace(context.Background(), rtHash(from), at, rtGrace, rtAccept, rtNext(to, at))
	if err != nil || retry || got.ID != to {
		t.Fatalf("rotate %s -> %s: got %q, retry %v, err %v; want %s, false, nil", from, to, got.ID, retry, err, to)
	}
	return got
}

func testGraceRetry(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a)
	t1 := rtAt(time.Minute)
	b := rtGraceRotate(t, s, "a", "b", t1)
	wantA := a
	wantA.RotatedAt, wantA.LastUsedAt = t1, t1
	seq := rtSeq(t, s)

	// The answer was lost: the same token again, within the grace (up to
	// and including its end), gets the same successor and writes nothing.
	for _, d := range []time.Duration{0, time.Second, rtGrace} {
		var checked []string
		got, retry, err := s.RotateRefreshTokenGrace(ctx, a.TokenHash, t1.Add(d), rtGrace,
			func(cur store.RefreshToken) error { checked = append(checked, cur.ID); return nil },
			rtNext("b", t1.Add(d)))
		if err != nil || !retry {
			t.Fatalf("retry after %s: retry %v, err %v; want true, nil", d, retry, err)
		}
		if diff := rtDiff(got, b); diff != "" {
			t.Errorf("retry after %s returned: %s", d, diff)
		}
		if fmt.Sprint(checked) != "[b]" {
			t.Errorf("retry after %s checked %v, want [b] (the token handed out)", d, checked)
		}
	}
	rtExpect(t, s, "rotated token after retries", wantA)
	rtExpect(t, s, "successor after retries", b)
	if cs := rtChanges(t, s, seq); len(cs) != 0 {
		t.Errorf("retries logged %v", cs)
	}
	if live := rtLive(t, s, "acc1", t1); fmt.Sprint(live) != "[b]" {
		t.Errorf("LiveSessions = %v, want [b]", live)
	}
	// The session goes on: the successor rotates normally.
	rtGraceRotate(t, s, "b", "c", t1.Add(time.Hour))
}

func testGraceExpired(t *testing.T, s *store.Store) {
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a)
	t1 := rtAt(time.Minute)
	rtGraceRotate(t, s, "a", "b", t1)
	seq := rtSeq(t, s)
	late := t1.Add(rtGrace + time.Second)
	_, retry, err := s.RotateRefreshTokenGrace(context.Background(), a.TokenHash, late, rtGrace, rtAccept, rtNext("b", late))
	if !errors.Is(err, store.ErrTokenReused) || retry {
		t.Fatalf("replay after the grace: retry %v, err %v; want ErrTokenReused", retry, err)
	}
	rtExpectFamilyRevoked(t, s, seq, late, "a", "b")
}

func testGraceSuccessorUsed(t *testing.T, s *store.Store) {
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a)
	t1 := rtAt(time.Minute)
	rtGraceRotate(t, s, "a", "b", t1)
	rtGraceRotate(t, s, "b", "c", t1.Add(time.Second))
	seq := rtSeq(t, s)
	// Someone used the successor, so whoever presents a now is a second
	// holder of the token: theft, even within the grace.
	t2 := t1.Add(2 * time.Second)
	_, retry, err := s.RotateRefreshTokenGrace(context.Background(), a.TokenHash, t2, rtGrace, rtAccept, rtNext("b", t2))
	if !errors.Is(err, store.ErrTokenReused) || retry {
		t.Fatalf("replay after the successor was used: retry %v, err %v; want ErrTokenReused", retry, err)
	}
	rtExpectFamilyRevoked(t, s, seq, t2, "a", "b", "c")
}

func testGraceDisabled(t *testing.T, s *store.Store) {
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a)
	t1 := rtAt(time.Minute)
	if _, _, err := s.RotateRefreshTokenGrace(context.Background(), a.TokenHash, t1, 0, rtAccept, rtNext("b", t1)); err != nil {
		t.Fatal(err)
	}
	seq := rtSeq(t, s)
	called := false
	_, retry, err := s.RotateRefreshTokenGrace(context.Background(), a.TokenHash, t1, 0, rtAccept,
		func(old store.RefreshToken) store.RefreshToken { called = true; return rtSuccessor(old, "b", t1) })
	if !errors.Is(err, store.ErrTokenReused) || retry || called {
		t.Fatalf("immediate replay without grace: retry %v, err %v, next called %v; want ErrTokenReused, not called", retry, err, called)
	}
	rtExpectFamilyRevoked(t, s, seq, t1, "a", "b")
}

// A successor other than the one next names (say, made by a version that
// drew successors at random), or one of another family, is not returned:
// the replay revokes.
func testGraceUnknownSuccessor(t *testing.T, s *store.Store) {
	a := rtToken("a", "f1", "acc1", rtAt(0))
	other := rtToken("o", "f2", "acc1", rtAt(0))
	m := rtToken("m", "f3", "acc2", rtAt(0))
	rtCreate(t, s, a, other, m)
	t1 := rtAt(time.Minute)
	rtGraceRotate(t, s, "a", "b", t1)
	rtGraceRotate(t, s, "m", "n", t1)
	for _, c := range []struct{ from, names, family, account string }{
		{"a", "o", "f1", "acc1"}, // another family's token
		{"m", "x", "f3", "acc2"}, // no such token
	} {
		seq := rtSeq(t, s)
		_, retry, err := s.RotateRefreshTokenGrace(context.Background(), rtHash(c.from), t1, rtGrace, rtAccept, rtNext(c.names, t1))
		if !errors.Is(err, store.ErrTokenReused) || retry {
			t.Fatalf("retry of %s naming %s: retry %v, err %v; want ErrTokenReused", c.from, c.names, retry, err)
		}
		if cs := rtChanges(t, s, seq); fmt.Sprint(cs) != fmt.Sprint([]string{store.ChangeRevokeFamily + ":" + c.family}) {
			t.Errorf("change log = %v, want [%s:%s]", cs, store.ChangeRevokeFamily, c.family)
		}
		if live := rtLive(t, s, c.account, t1); c.account == "acc1" && fmt.Sprint(live) != "[o]" || c.account == "acc2" && len(live) != 0 {
			t.Errorf("LiveSessions(%s) = %v after the replay", c.account, live)
		}
	}
	rtGone(t, s, "nothing inserted", "x")
	rtExpect(t, s, "other family", other)
}

func testGraceRevokedFamily(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a)
	t1 := rtAt(time.Minute)
	rtGraceRotate(t, s, "a", "b", t1)
	if err := s.RevokeFamily(ctx, "f1", t1); err != nil {
		t.Fatal(err)
	}
	if _, retry, err := s.RotateRefreshTokenGrace(ctx, a.TokenHash, t1, rtGrace, rtAccept, rtNext("b", t1)); !errors.Is(err, store.ErrTokenRevoked) || retry {
		t.Fatalf("retry in a revoked session: retry %v, err %v; want ErrTokenRevoked", retry, err)
	}
}

func testGraceCheckRefuses(t *testing.T, s *store.Store) {
	a := rtToken("a", "f1", "acc1", rtAt(0))
	rtCreate(t, s, a)
	t1 := rtAt(time.Minute)
	b := rtGraceRotate(t, s, "a", "b", t1)
	seq := rtSeq(t, s)
	refused := errors.New("account disabled")
	got, retry, err := s.RotateRefreshTokenGrace(context.Background(), a.TokenHash, t1, rtGrace,
		func(store.RefreshToken) error { return refused }, rtNext("b", t1))
	if !errors.Is(err, refused) || retry || got.ID != "" {
		t.Fatalf("refused retry: %q, retry %v, err %v; want the check's error", got.ID, retry, err)
	}
	rtExpect(t, s, "successor unchanged", b)
	if cs := rtChanges(t, s, seq); len(cs) != 0 {
		t.Errorf("refused retry logged %v", cs)
	}
}

// testGraceConcurrent presents one token 50 times at once within the grace:
// one caller rotates, every other gets the same successor as a retry, the
// family lives and exactly one successor row exists.
func testGraceConcurrent(t *testing.T, s *store.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := rtToken("a", "f1", "acc1", rtAt(0))
	other := rtToken("o", "f2", "acc1", rtAt(0))
	rtCreate(t, s, a, other)
	seq := rtSeq(t, s)
	now := rtAt(time.Minute)

	const n = 50
	var rotated, retried atomic.Int32
	ids := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			var got store.RefreshToken
			var retry bool
			got, retry, errs[i] = s.RotateRefreshTokenGrace(ctx, a.TokenHash, now, rtGrace, rtAccept, rtNext("b", now))
			ids[i] = got.ID
			if errs[i] == nil && retry {
				retried.Add(1)
			} else if errs[i] == nil {
				rotated.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("concurrent rotations did not finish in time: %v", ctx.Err())
	}
	for i, err := range errs {
		if err != nil || ids[i] != "b" {
			t.Errorf("caller %d: got %q, err %v; want b", i, ids[i], err)
		}
	}
	if rotated.Load() != 1 || retried.Load() != n-1 {
		t.Errorf("%d rotated, %d retried; want 1 and %d", rotated.Load(), retried.Load(), n-1)
	}
	if live := rtLive(t, s, "acc1", now); fmt.Sprint(live) != "[b o]" && fmt.Sprint(live) != "[o b]" {
		t.Errorf("LiveSessions = %v, want b and o", live)
	}
	if got := rtGet(t, s, "a"); !got.RotatedAt.Equal(now) || !got.RevokedAt.IsZero() {
		t.Errorf("contested token: RotatedAt = %v, RevokedAt = %v; want %v and none", got.RotatedAt, got.RevokedAt, now)
	}
	if cs := rtChanges(t, s, seq); len(cs) != 0 {
		t.Errorf("change log = %v, want nothing", cs)
	}
}

// rtExpectFamilyRevoked checks that every listed token (of family f1) is
// revoked at at, none of f1 is live, and the change log after seq holds
// exactly the revocation of f1.
func rtExpectFamilyRevoked(t *testing.T, s *store.Store, seq int64, at time.Time, ids ...string) {
	t.Helper()
	if cs := rtChanges(t, s, seq); fmt.Sprint(cs) != fmt.Sprint([]string{store.ChangeRevokeFamily + ":f1"}) {
		t.Errorf("change log = %v, want [%s:f1]", cs, store.ChangeRevokeFamily)
	}
	for _, id := range ids {
		if got := rtGet(t, s, id); !got.RevokedAt.Equal(at) {
			t.Errorf("%s.RevokedAt = %v, want %v: family not revoked", id, got.RevokedAt, at)
		}
	}
	if live := rtLive(t, s, "acc1", at); fmt.Sprint(live) != "[]" && fmt.Sprint(live) != "[o]" {
		t.Errorf("LiveSessions = %v, want none of f1", live)
	}
}
