package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// TestThrottleReservation runs the reserve/release conformance suite of the
// login throttle on every configured backend, each case on a fresh database.
func TestThrottleReservation(t *testing.T) {
	runOnEveryBackend(t, []storeCase{
		{"limit", testReserveLimit},
		{"concurrent reservations", testReserveConcurrent},
		{"release", testReserveRelease},
		{"trusted pair", testReserveTrustedPair},
		{"window and lockout end", testReserveWindow},
		{"clear", testClearThrottles},
		{"prune keeps trust", testPruneKeepsTrust},
	})
}

var (
	rsPair    = store.ThrottlePolicy{MaxFailures: 3, Window: 15 * time.Minute, Lockout: 15 * time.Minute}
	rsAccount = store.ThrottlePolicy{MaxFailures: 6, Window: 15 * time.Minute, Lockout: 30 * time.Minute}
	rsIP      = store.ThrottlePolicy{MaxFailures: 10, Window: 15 * time.Minute, Lockout: 15 * time.Minute}
)

// rsAttempt are the counters of a login as user from ip.
func rsAttempt(user, ip string) []store.ThrottleCounter {
	return []store.ThrottleCounter{
		{Key: "up:" + user + "|" + ip, Policy: rsPair, Pair: true},
		{Key: "user:" + user, Policy: rsAccount},
		{Key: "ip:" + ip, Policy: rsIP},
	}
}

// rsReserve reserves an attempt and returns the refusing lockout's end.
func rsReserve(t *testing.T, s *store.Store, now time.Time, c []store.ThrottleCounter) time.Time {
	t.Helper()
	until, _, err := s.ReserveAttempt(context.Background(), now, c)
	if err != nil {
		t.Fatalf("ReserveAttempt(%s, %v): %v", c[0].Key, now, err)
	}
	return until
}

func rsRelease(t *testing.T, s *store.Store, now time.Time, c []store.ThrottleCounter, trust time.Time) {
	t.Helper()
	if err := s.ReleaseAttempt(context.Background(), now, c, trust); err != nil {
		t.Fatalf("ReleaseAttempt(%s): %v", c[0].Key, err)
	}
}

// testReserveLimit: the limit's worth of attempts is reserved, the last one
// locks, and the next is refused without being counted.
func testReserveLimit(t *testing.T, s *store.Store) {
	now := rtAt(0)
	a := rsAttempt("alice", "192.0.2.1")
	for i := 1; i <= rsPair.MaxFailures; i++ {
		until, locked, err := s.ReserveAttempt(context.Background(), now, a)
		if err != nil || !until.IsZero() {
			t.Fatalf("attempt %d: refused until %v, %v", i, until, err)
		}
		if wantLock := i == rsPair.MaxFailures; wantLock != (len(locked) == 1 && locked[0] == a[0].Key) {
			t.Errorf("attempt %d locked %v", i, locked)
		}
	}
	if got, want := rsReserve(t, s, now.Add(time.Second), a), now.Add(rsPair.Lockout); !got.Equal(want) {
		t.Errorf("attempt after the limit refused until %v, want %v", got, want)
	}
	// The same account from another IP is still let through.
	if got := rsReserve(t, s, now.Add(time.Second), rsAttempt("alice", "192.0.2.2")); !got.IsZero() {
		t.Errorf("alice from another IP refused until %v", got)
	}
	// Overlong keys are an error, not a silent pass.
	long := []store.ThrottleCounter{{Key: "user:" + string(make([]byte, 400)), Policy: rsPair, Pair: true}}
	if _, _, err := s.ReserveAttempt(context.Background(), now, long); err == nil {
		t.Error("ReserveAttempt accepted a 405-byte key")
	}
}

// testReserveConcurrent: 40 attempts at once get exactly the limit reserved.
func testReserveConcurrent(t *testing.T, s *store.Store) {
	now := rtAt(0)
	const n = 40
	var wg sync.WaitGroup
	refused := make([]time.Time, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refused[i], _, errs[i] = s.ReserveAttempt(context.Background(), now, rsAttempt("bob", "192.0.2.9"))
		}()
	}
	wg.Wait()
	reserved := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("attempt %d: %v", i, errs[i])
		}
		if refused[i].IsZero() {
			reserved++
		}
	}
	if reserved != rsPair.MaxFailures {
		t.Errorf("%d of %d concurrent attempts reserved, want exactly %d", reserved, n, rsPair.MaxFailures)
	}
}

// testReserveRelease: a success clears the pair, gives back its own count on
// the account and IP counters (and a lockout it set), and keeps the rest.
func testReserveRelease(t *testing.T, s *store.Store) {
	now := rtAt(0)
	a := rsAttempt("carol", "192.0.2.3")
	// Two failures, then a success: the pair starts again from zero.
	rsReserve(t, s, now, a)
	rsReserve(t, s, now, a)
	rsReserve(t, s, now, a) // the third locks the pair...
	rsRelease(t, s, now, a, time.Time{})
	// ...and its success lifts the lockout and clears the pair.
	for i := 1; i <= rsPair.MaxFailures; i++ {
		if got := rsReserve(t, s, now, a); !got.IsZero() {
			t.Fatalf("after release, attempt %d refused until %v", i, got)
		}
	}
	if got := rsReserve(t, s, now, a); got.IsZero() {
		t.Fatal("pair not locked after the limit")
	}
	// The account counter kept the two failures before the success plus the
	// three after it: one more failure from a new IP locks the account.
	if got := rsReserve(t, s, now, rsAttempt("carol", "192.0.2.4")); !got.IsZero() {
		t.Fatalf("6th account failure refused until %v", got)
	}
	if got, want := rsReserve(t, s, now, rsAttempt("carol", "192.0.2.5")), now.Add(rsAccount.Lockout); !got.Equal(want) {
		t.Errorf("account after its limit refused until %v, want %v", got, want)
	}
	// A reservation that locks the account and then succeeds lifts it again.
	d := rsAttempt("dave", "192.0.2.6")
	for i := range rsAccount.MaxFailures - 1 {
		rsReserve(t, s, now, rsAttempt("dave", "198.51.100."+string(rune('1'+i))))
	}
	if got := rsReserve(t, s, now, d); !got.IsZero() { // the 6th reservation locks the account
		t.Fatalf("6th dave attempt refused until %v", got)
	}
	if got := rsReserve(t, s, now, rsAttempt("dave", "192.0.2.7")); got.IsZero() {
		t.Fatal("dave's account not locked by the 6th reservation")
	}
	rsRelease(t, s, now, d, time.Time{})
	if got := rsReserve(t, s, now, rsAttempt("dave", "192.0.2.7")); !got.IsZero() {
		t.Errorf("account still locked until %v after the locking attempt succeeded", got)
	}
}

// testReserveTrustedPair: the account and IP lockouts do not apply to a
// trusted pair; its own lockout does.
func testReserveTrustedPair(t *testing.T, s *store.Store) {
	now := rtAt(0)
	home := rsAttempt("erin", "192.0.2.10")
	rsReserve(t, s, now, home)
	rsRelease(t, s, now, home, now.Add(24*time.Hour))
	// A distributed attack locks the account ...
	for i := range rsAccount.MaxFailures {
		rsReserve(t, s, now, rsAttempt("erin", "203.0.113."+string(rune('1'+i))))
	}
	if got := rsReserve(t, s, now, rsAttempt("erin", "203.0.113.100")); got.IsZero() {
		t.Fatal("account not locked by the distributed attack")
	}
	// ... and a sprayer locks the trusted IP.
	for i := range rsIP.MaxFailures {
		rsReserve(t, s, now, rsAttempt("victim"+string(rune('a'+i)), "192.0.2.10"))
	}
	if got := rsReserve(t, s, now, rsAttempt("frank", "192.0.2.10")); got.IsZero() {
		t.Fatal("IP not locked by the sprayer")
	}
	// The trusted pair is still let through.
	if got := rsReserve(t, s, now, home); !got.IsZero() {
		t.Fatalf("trusted pair refused until %v", got)
	}
	rsRelease(t, s, now, home, now.Add(24*time.Hour))
	// Its own lockout still applies.
	for range rsPair.MaxFailures {
		rsReserve(t, s, now, home)
	}
	if got, want := rsReserve(t, s, now, home), now.Add(rsPair.Lockout); !got.Equal(want) {
		t.Errorf("trusted pair after its own limit refused until %v, want %v", got, want)
	}
	// Trust ends.
	later := now.Add(25 * time.Hour)
	for i := range rsAccount.MaxFailures {
		rsReserve(t, s, later, rsAttempt("erin", "198.51.100."+string(rune('1'+i))))
	}
	if got := rsReserve(t, s, later, home); got.IsZero() {
		t.Error("pair still trusted after its trust ended")
	}
}

// testReserveWindow: failures older than the window and ended lockouts are
// forgotten.
func testReserveWindow(t *testing.T, s *store.Store) {
	now := rtAt(0)
	a := rsAttempt("gina", "192.0.2.11")
	rsReserve(t, s, now, a)
	rsReserve(t, s, now, a)
	later := now.Add(rsPair.Window + time.Second)
	rsReserve(t, s, later, a)
	rsReserve(t, s, later, a)
	if got := rsReserve(t, s, later, a); !got.IsZero() {
		t.Fatalf("third attempt of a new window refused until %v", got)
	}
	if got := rsReserve(t, s, later, a); got.IsZero() {
		t.Fatal("not locked after three attempts in the window")
	}
	after := later.Add(rsPair.Lockout + time.Second)
	for i := 1; i <= rsPair.MaxFailures; i++ {
		if got := rsReserve(t, s, after, a); !got.IsZero() {
			t.Fatalf("after the lockout, attempt %d refused until %v", i, got)
		}
	}
	if got := rsReserve(t, s, after, a); got.IsZero() {
		t.Error("no relock after the lockout ended")
	}
}

// testClearThrottles: an unlock clears the account counter and its pairs,
// exactly by key (not by a case-insensitive LIKE), and keeps trust.
func testClearThrottles(t *testing.T, s *store.Store) {
	ctx := context.Background()
	now := rtAt(0)
	policy := store.ThrottlePolicy{MaxFailures: 1, Window: time.Hour, Lockout: time.Hour}
	pair := func(client, ip string) []store.ThrottleCounter {
		return []store.ThrottleCounter{
			{Key: "cp:" + client + "|" + ip, Policy: policy, Pair: true},
			{Key: "client:" + client, Policy: store.ThrottlePolicy{MaxFailures: 100, Window: time.Hour, Lockout: time.Hour}},
		}
	}
	trusted := pair("etl_1", "192.0.2.20")
	rsReserve(t, s, now, trusted)
	rsRelease(t, s, now, trusted, now.Add(time.Hour))
	rsReserve(t, s, now, trusted) // locks the trusted pair
	rsReserve(t, s, now, pair("etl_1", "192.0.2.21"))
	rsReserve(t, s, now, pair("ETL_1", "192.0.2.21"))
	rsReserve(t, s, now, pair("etlX1", "192.0.2.21"))
	n, err := s.ClearThrottles(ctx, now, []string{"client:etl_1"}, []string{"cp:etl_1|"})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // two pairs and the client counter
		t.Errorf("ClearThrottles = %d, want 3", n)
	}
	for _, c := range [][]store.ThrottleCounter{trusted, pair("etl_1", "192.0.2.21")} {
		if got := rsReserve(t, s, now, c); !got.IsZero() {
			t.Errorf("%s still locked until %v", c[0].Key, got)
		}
	}
	for _, c := range [][]store.ThrottleCounter{pair("ETL_1", "192.0.2.21"), pair("etlX1", "192.0.2.21")} {
		if got := rsReserve(t, s, now, c); got.IsZero() {
			t.Errorf("%s was unlocked by another client's unlock", c[0].Key)
		}
	}
	if n, err := s.ClearThrottles(ctx, now, nil, nil); err != nil || n != 0 {
		t.Errorf("ClearThrottles(nothing) = %d, %v", n, err)
	}
}

// testPruneKeepsTrust: pruning keeps a pair that is still trusted.
func testPruneKeepsTrust(t *testing.T, s *store.Store) {
	ctx := context.Background()
	now := rtAt(0)
	a := rsAttempt("hank", "192.0.2.30")
	rsReserve(t, s, now, a)
	rsRelease(t, s, now, a, now.Add(30*rtDay))
	cutoff := now.Add(2 * time.Hour)
	if _, err := s.PruneThrottles(ctx, cutoff); err != nil {
		t.Fatal(err)
	}
	// Lock the account from elsewhere: the kept trust still lets hank in.
	later := now.Add(3 * time.Hour)
	for i := range rsAccount.MaxFailures {
		rsReserve(t, s, later, rsAttempt("hank", "203.0.113."+string(rune('1'+i))))
	}
	if got := rsReserve(t, s, later, rsAttempt("hank", "203.0.113.99")); got.IsZero() {
		t.Fatal("account not locked")
	}
	if got := rsReserve(t, s, later, a); !got.IsZero() {
		t.Errorf("trusted pair refused until %v after a prune", got)
	}
}
