package server_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// throttleServer starts a server per backend that believes X-Forwarded-For
// from loopback, so that a test can speak from any client IP, with small
// throttle limits set by policy.
func throttleForEachBackend(t *testing.T, policy func(c *server.Config), fn func(t *testing.T, ts *testServer)) {
	opts := []serverOption{func(c *server.Config) {
		c.Core.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		w := 15 * time.Minute
		c.Core.UserThrottle = store.ThrottlePolicy{MaxFailures: 5, Window: w, Lockout: w}
		c.Core.AccountThrottle = store.ThrottlePolicy{MaxFailures: 50, Window: w, Lockout: w}
		c.Core.IPThrottle = store.ThrottlePolicy{MaxFailures: 100, Window: w, Lockout: w}
		if policy != nil {
			policy(c)
		}
	}}
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, startServer(t, b.DSN(t), opts...))
		})
	}
}

// login runs the password grant over gRPC as if from ip and returns its
// status code (OK on success).
func (ts *testServer) loginFrom(t testing.TB, username, password, ip string) codes.Code {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-forwarded-for", ip)
	_, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: username, Password: password})
	return status.Code(err)
}

func wantLogin(t testing.TB, ts *testServer, username, password, ip string, want codes.Code) {
	t.Helper()
	if got := ts.loginFrom(t, username, password, ip); got != want {
		t.Fatalf("login %.20s from %s: %v, want %v", username, ip, got, want)
	}
}

// lockPair makes username's pair with ip reach its limit of 5.
func lockPair(t testing.TB, ts *testServer, username, ip string) {
	t.Helper()
	for range 5 {
		wantLogin(t, ts, username, "wrong-password", ip, codes.Unauthenticated)
	}
	wantLogin(t, ts, username, "alice-password", ip, codes.ResourceExhausted)
}

// concurrentLogins sends n password logins of username from ip at once,
// the i-th with password(i), and returns their status codes in order.
func concurrentLogins(t *testing.T, ts *testServer, n int, username string, password func(i int) string, ip string) []codes.Code {
	t.Helper()
	got := make([]codes.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i] = ts.loginFrom(t, username, password(i), ip) })
	}
	wg.Wait()
	return got
}

// TestThrottleConcurrentGuesses: 200 wrong guesses at once get at most the
// limit evaluated, and the right password sent after them is refused.
func TestThrottleConcurrentGuesses(t *testing.T) {
	throttleForEachBackend(t, nil, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		const n = 200
		got := concurrentLogins(t, ts, n, "alice", func(i int) string { return fmt.Sprintf("guess-%03d", i) }, "192.0.2.1")
		count := map[codes.Code]int{}
		for _, c := range got {
			count[c]++
		}
		if count[codes.Unauthenticated] > 5 || count[codes.Unauthenticated] < 1 || count[codes.Unauthenticated]+count[codes.ResourceExhausted] != n {
			t.Fatalf("answers to %d concurrent guesses: %v; want at most 5 evaluated (Unauthenticated), the rest ResourceExhausted", n, count)
		}
		wantLogin(t, ts, "alice", "alice-password", "192.0.2.1", codes.ResourceExhausted)
	})
}

// TestThrottleConcurrentRightPasswords: more correct logins of one user
// from one address at once than the pair limit all succeed and lock
// nothing; they take turns instead of all being counted while in flight.
func TestThrottleConcurrentRightPasswords(t *testing.T) {
	throttleForEachBackend(t, nil, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		const n = 16
		got := concurrentLogins(t, ts, n, "alice", func(int) string { return "alice-password" }, "192.0.2.9")
		for i, c := range got {
			if c != codes.OK {
				t.Fatalf("concurrent login %d of %d with the right password: %v, want OK (all: %v)", i, n, c, got)
			}
		}
		// Nothing was left counted: the pair still allows its full limit of
		// guesses before it locks.
		for range 4 {
			wantLogin(t, ts, "alice", "wrong-password", "192.0.2.9", codes.Unauthenticated)
		}
		wantLogin(t, ts, "alice", "alice-password", "192.0.2.9", codes.OK)
	})
}

// TestThrottlePairLockIsLocal: a lockout of (alice, ip1) does not stop
// alice from ip2, and one source cannot lock the account for everyone.
func TestThrottlePairLockIsLocal(t *testing.T) {
	throttleForEachBackend(t, nil, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		lockPair(t, ts, "alice", "192.0.2.1")
		for range 20 { // refused attempts are not counted against the account
			wantLogin(t, ts, "alice", "wrong-password", "192.0.2.1", codes.ResourceExhausted)
		}
		wantLogin(t, ts, "alice", "alice-password", "192.0.2.2", codes.OK)
		wantLogin(t, ts, "alice", "alice-password", "192.0.2.1", codes.ResourceExhausted)
	})
}

// TestThrottleDistributedAttack: guesses from many IPs, each under the pair
// limit, trip the per-account limit; a pair trusted by an earlier correct
// login keeps working.
func TestThrottleDistributedAttack(t *testing.T) {
	small := func(c *server.Config) { c.Core.AccountThrottle.MaxFailures = 12 }
	throttleForEachBackend(t, small, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		wantLogin(t, ts, "alice", "alice-password", "198.51.100.7", codes.OK) // alice's usual address
		for i := range 12 {
			wantLogin(t, ts, "alice", "wrong-password", fmt.Sprintf("203.0.113.%d", i/2+1), codes.Unauthenticated)
		}
		wantLogin(t, ts, "alice", "alice-password", "203.0.113.200", codes.ResourceExhausted)
		wantLogin(t, ts, "alice", "wrong-password", "203.0.113.201", codes.ResourceExhausted)
		wantLogin(t, ts, "alice", "alice-password", "198.51.100.7", codes.OK)
	})
}

// TestThrottleSprayer: a sprayer behind one IP locks that IP for names it
// has not logged in with, but not for an account trusted from it.
func TestThrottleSprayer(t *testing.T) {
	small := func(c *server.Config) { c.Core.IPThrottle.MaxFailures = 10 }
	throttleForEachBackend(t, small, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		if _, err := ts.admin.CreateUser(ts.adminCtx(t), &gatehousev1.CreateUserRequest{Username: "bob", Password: "bob-password-1"}); err != nil {
			t.Fatal(err)
		}
		const proxy = "192.0.2.50"
		wantLogin(t, ts, "alice", "alice-password", proxy, codes.OK)
		for i := range 10 {
			wantLogin(t, ts, fmt.Sprintf("user%02d", i), "Winter2025!", proxy, codes.Unauthenticated)
		}
		wantLogin(t, ts, "user99", "Winter2025!", proxy, codes.ResourceExhausted)
		wantLogin(t, ts, "bob", "bob-password-1", proxy, codes.ResourceExhausted)
		wantLogin(t, ts, "alice", "alice-password", proxy, codes.OK)
		// Elsewhere bob is fine.
		wantLogin(t, ts, "bob", "bob-password-1", "192.0.2.51", codes.OK)
	})
}

// TestThrottleOverlongUsername: a very long name is counted like any other
// and answered as bad credentials, never as an internal error.
func TestThrottleOverlongUsername(t *testing.T) {
	throttleForEachBackend(t, nil, func(t *testing.T, ts *testServer) {
		long := strings.Repeat("x", 2000)
		for range 5 {
			wantLogin(t, ts, long, "wrong-password", "192.0.2.60", codes.Unauthenticated)
		}
		wantLogin(t, ts, long, "wrong-password", "192.0.2.60", codes.ResourceExhausted)
		// A different long name with the same prefix has its own counter.
		wantLogin(t, ts, long+"y", "wrong-password", "192.0.2.60", codes.Unauthenticated)
	})
}

// TestThrottleUnlock: an admin lifts a lockout through the RPC, REST and
// the CLI; a password reset lifts it too.
func TestThrottleUnlock(t *testing.T) {
	throttleForEachBackend(t, nil, func(t *testing.T, ts *testServer) {
		aliceID, _ := seed(t, ts)
		ctx := ts.adminCtx(t)

		lockPair(t, ts, "alice", "192.0.2.70")
		// Only an admin may unlock.
		aliceCtx := bearer(context.Background(), ts.token(t, "alice", "alice-password"))
		if _, err := ts.admin.UnlockAccount(aliceCtx, &gatehousev1.UnlockAccountRequest{Id: aliceID}); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("UnlockAccount as alice: %v", err)
		}
		if _, err := ts.admin.UnlockAccount(ctx, &gatehousev1.UnlockAccountRequest{Id: "no-such-id"}); status.Code(err) != codes.NotFound {
			t.Errorf("UnlockAccount(unknown id): %v", err)
		}
		res, err := ts.admin.UnlockAccount(ctx, &gatehousev1.UnlockAccountRequest{Id: aliceID})
		if err != nil || res.GetCleared() < 1 {
			t.Fatalf("UnlockAccount = %v, %v", res, err)
		}
		wantLogin(t, ts, "alice", "alice-password", "192.0.2.70", codes.OK)

		// REST.
		lockPair(t, ts, "alice", "192.0.2.71")
		if r := ts.do(t, "POST", "/v1/admin/accounts/"+aliceID+":unlock", "application/json", "{}", ts.adminToken(t)); r.status != 200 {
			t.Fatalf("REST unlock: %d %s", r.status, r.body)
		}
		wantLogin(t, ts, "alice", "alice-password", "192.0.2.71", codes.OK)

		// A password reset.
		lockPair(t, ts, "alice", "192.0.2.72")
		if _, err := ts.admin.SetPassword(ctx, &gatehousev1.SetPasswordRequest{Id: aliceID, Password: "alice-password-2"}); err != nil {
			t.Fatal(err)
		}
		wantLogin(t, ts, "alice", "alice-password-2", "192.0.2.72", codes.OK)

		// The CLI, on the same database.
		if testing.Short() {
			t.Skip("the CLI part builds the gatehouse binary")
		}
		for range 5 {
			wantLogin(t, ts, "alice", "wrong-password", "192.0.2.73", codes.Unauthenticated)
		}
		wantLogin(t, ts, "alice", "alice-password-2", "192.0.2.73", codes.ResourceExhausted)
		cmd := exec.Command(buildBinary(t), "users", "unlock", "alice")
		cmd.Env = append(os.Environ(),
			"GATEHOUSE_DATA_DIR="+ts.dataDir,
			"GATEHOUSE_DATABASE_URL="+ts.dsn,
			"GATEHOUSE_MASTER_KEY="+ts.masterKy,
			"GATEHOUSE_LOG_LEVEL=warn",
		)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "alice: unlocked") {
			t.Fatalf("gatehouse users unlock alice: %v\n%s", err, out)
		}
		wantLogin(t, ts, "alice", "alice-password-2", "192.0.2.73", codes.OK)
	})
}

// TestThrottleStoreFailureRefusesLogin: when the throttle's counters cannot
// be written, every login is refused with UNAVAILABLE, even with the right
// password, rather than evaluated uncounted; it recovers when they can.
func TestThrottleStoreFailureRefusesLogin(t *testing.T) {
	throttleForEachBackend(t, nil, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		driver, dsn := "sqlite", ts.dsn
		if store.IsPostgres(ts.dsn) {
			driver = "pgx"
		} else {
			// The server writes to the same file; wait for its lock.
			dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)"
		}
		if dsn == "" {
			t.Fatal("test server has no DSN")
		}
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx := context.Background()
		// Break writes to the counters only; reads keep working.
		var breakSQL, fixSQL []string
		if driver == "pgx" {
			breakSQL = []string{
				`CREATE FUNCTION throttle_broken() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'throttle store broken'; END $$`,
				`CREATE TRIGGER throttle_broken BEFORE INSERT OR UPDATE OR DELETE ON throttles FOR EACH ROW EXECUTE FUNCTION throttle_broken()`,
			}
			fixSQL = []string{`DROP TRIGGER throttle_broken ON throttles`}
		} else {
			for _, op := range []string{"INSERT", "UPDATE", "DELETE"} {
				breakSQL = append(breakSQL, fmt.Sprintf(`CREATE TRIGGER throttle_broken_%s BEFORE %s ON throttles BEGIN SELECT RAISE(ABORT, 'throttle store broken'); END`, strings.ToLower(op), op))
				fixSQL = append(fixSQL, fmt.Sprintf(`DROP TRIGGER throttle_broken_%s`, strings.ToLower(op)))
			}
		}
		for _, q := range breakSQL {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		wantLogin(t, ts, "alice", "wrong-password", "192.0.2.80", codes.Unavailable)
		wantLogin(t, ts, "alice", "alice-password", "192.0.2.80", codes.Unavailable)
		wantLogin(t, ts, "nobody", "alice-password", "192.0.2.80", codes.Unavailable)
		for _, q := range fixSQL {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		wantLogin(t, ts, "alice", "alice-password", "192.0.2.80", codes.OK)
	})
}
