package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// testGrace is the reuse grace of these tests: long enough that a slow
// machine never leaves it by accident; leaving it is done with the clock.
const testGrace = time.Minute

func withGrace(d time.Duration) serverOption {
	return func(c *server.Config) { c.Core.RefreshReuseGrace = d }
}

// forEachBackendWith is forEachBackend with server options.
func forEachBackendWith(t *testing.T, opts []serverOption, fn func(t *testing.T, ts *testServer)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, startServer(t, b.DSN(t), opts...))
		})
	}
}

// wantSession checks that the access token is valid and of the session.
func (ts *testServer) wantSession(t *testing.T, label, accessToken, session string) {
	t.Helper()
	v, err := ts.validate(accessToken)
	if err != nil || v.Principal.SessionId != session {
		t.Errorf("%s: access token: %v, session %q, want %q", label, err, v.GetPrincipal().GetSessionId(), session)
	}
}

// wantRevoked checks that the refresh token is refused as a replay and
// that the session's tokens are dead.
func (ts *testServer) wantReplayRevokes(t *testing.T, label, replayed string, dead ...*gatehousev1.IssueTokenResponse) {
	t.Helper()
	if _, err := ts.refresh(replayed); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("%s: replay = %v, want Unauthenticated, already used", label, err)
	}
	for _, d := range dead {
		if _, err := ts.refresh(d.RefreshToken); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: refresh token of the revoked session: %v", label, err)
		}
		if _, err := ts.validate(d.AccessToken); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s: access token of the revoked session: %v", label, err)
		}
	}
}

func TestRefreshReuseGraceDefault(t *testing.T) {
	if got := server.DefaultConfig().Core.RefreshReuseGrace; got != 10*time.Second {
		t.Errorf("default refresh reuse grace = %s, want 10s", got)
	}
	for _, bad := range []time.Duration{-time.Second, 5*time.Minute + time.Second} {
		c := core.DefaultConfig()
		c.RefreshReuseGrace = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "reuse grace") {
			t.Errorf("grace %s: Validate = %v, want an error naming the grace", bad, err)
		}
	}
}

// TestRefreshRetryWithinGrace: a refresh token presented again soon after
// its rotation returns the same successor and a valid access token of the
// same session; the session lives on. Once the successor is used, the old
// token is a replay again, however soon.
func TestRefreshRetryWithinGrace(t *testing.T) {
	forEachBackendWith(t, []serverOption{withGrace(testGrace)}, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		first := ts.login(t, "alice", "alice-password", "openid email")
		session := mustSession(t, ts, first.AccessToken)
		second, err := ts.refresh(first.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		// The retry, over gRPC and over the OAuth2 endpoint.
		retry, err := ts.refresh(first.RefreshToken)
		if err != nil {
			t.Fatalf("retry within the grace: %v", err)
		}
		if retry.RefreshToken != second.RefreshToken || retry.Scope != "openid email" {
			t.Errorf("retry returned refresh token %.8s…, scope %q; want the successor %.8s…, openid email", retry.RefreshToken, retry.Scope, second.RefreshToken)
		}
		ts.wantSession(t, "retry", retry.AccessToken, session)
		ts.clock.Advance(testGrace - time.Second) // still within
		rest := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", first.RefreshToken)}))
		if rest.RefreshToken != second.RefreshToken {
			t.Errorf("REST retry returned another refresh token than the successor")
		}
		ts.wantSession(t, "REST retry", rest.AccessToken, session)
		ts.wantSession(t, "first answer", second.AccessToken, session)

		// The successor rotates as usual, and now the old token is theft.
		third, err := ts.refresh(second.RefreshToken)
		if err != nil {
			t.Fatalf("successor after retries: %v", err)
		}
		if third.RefreshToken == second.RefreshToken {
			t.Fatal("the successor did not rotate")
		}
		ts.wantReplayRevokes(t, "successor used", first.RefreshToken, second, third)
	})
}

// TestRefreshReplayAfterGrace: past the grace a reuse revokes the session.
func TestRefreshReplayAfterGrace(t *testing.T) {
	forEachBackendWith(t, []serverOption{withGrace(testGrace)}, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		first := ts.login(t, "alice", "alice-password", "")
		second, err := ts.refresh(first.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		ts.clock.Advance(testGrace + time.Second)
		ts.wantReplayRevokes(t, "after the grace", first.RefreshToken, second)
	})
}

// TestRefreshReuseGraceDisabled: with grace 0 every reuse revokes.
func TestRefreshReuseGraceDisabled(t *testing.T) {
	ts := startServer(t, "", withGrace(0))
	seed(t, ts)
	first := ts.login(t, "alice", "alice-password", "")
	second, err := ts.refresh(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	ts.wantReplayRevokes(t, "grace 0", first.RefreshToken, second)
}

// TestRefreshRetryOtherClient: only the client the token was issued to may
// retry; another one is refused without harming the session.
func TestRefreshRetryOtherClient(t *testing.T) {
	ts := startServer(t, "", withGrace(testGrace))
	_, secret := seed(t, ts)
	ctx := context.Background()
	first, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "alice", Password: "alice-password", ClientId: "reporter", ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(clientID, clientSecret string) (*gatehousev1.IssueTokenResponse, error) {
		return ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "refresh_token", RefreshToken: first.RefreshToken, ClientId: clientID, ClientSecret: clientSecret})
	}
	second, err := refresh("reporter", secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refresh("", ""); status.Code(err) != codes.Unauthenticated {
		t.Errorf("retry without the client: %v", err)
	}
	if _, err := refresh("reporter", "ghcs_wrong"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("retry with a wrong client secret: %v", err)
	}
	retry, err := refresh("reporter", secret)
	if err != nil || retry.RefreshToken != second.RefreshToken {
		t.Fatalf("retry by the client: %v (same successor: %v)", err, retry.GetRefreshToken() == second.RefreshToken)
	}
	ts.wantSession(t, "retry", retry.AccessToken, mustSession(t, ts, second.AccessToken))
}

// TestRefreshRetryAfterLostAnswer: the refresh commits but its answer never
// reaches the client (the server crashed, the connection timed out). The
// client's retry over gRPC and REST, and after a restart (a new process on
// the same database), gets the successor that was stored, and the session
// goes on.
func TestRefreshRetryAfterLostAnswer(t *testing.T) {
	forEachBackendWith(t, []serverOption{withGrace(testGrace)}, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		first := ts.login(t, "alice", "alice-password", "openid")
		session := mustSession(t, ts, first.AccessToken)
		// Committed in the core; the answer is what the client never saw.
		lost, err := ts.app.Core().IssueToken(context.Background(), core.TokenRequest{GrantType: "refresh_token", RefreshToken: first.RefreshToken})
		if err != nil {
			t.Fatal(err)
		}
		retry, err := ts.refresh(first.RefreshToken)
		if err != nil || retry.RefreshToken != lost.RefreshToken {
			t.Fatalf("gRPC retry: %v (same successor: %v)", err, retry.GetRefreshToken() == lost.RefreshToken)
		}
		ts.wantSession(t, "gRPC retry", retry.AccessToken, session)

		// A new process on the same database and master key knows nothing
		// of the first; the successor is derived again from the token.
		restarted := ts.replica(t, withGrace(testGrace))
		ts.clock.Advance(testGrace / 2)
		again := o2WantToken(t, restarted.o2(t, o2Req{body: o2Form("grant_type", "refresh_token", "refresh_token", first.RefreshToken)}))
		if again.RefreshToken != lost.RefreshToken {
			t.Fatal("retry after the restart returned another refresh token than the stored successor")
		}
		restarted.wantSession(t, "retry after restart", again.AccessToken, session)
		next, err := restarted.refresh(again.RefreshToken)
		if err != nil {
			t.Fatalf("the session after the retries: %v", err)
		}
		restarted.wantSession(t, "next rotation", next.AccessToken, session)
	})
}

// TestParallelRefreshWithinGrace: 50 concurrent refreshes of one token
// within the grace all get the same successor; the session lives.
func TestParallelRefreshWithinGrace(t *testing.T) {
	forEachBackendWith(t, []serverOption{withGrace(testGrace)}, func(t *testing.T, ts *testServer) {
		aliceID, _ := seed(t, ts)
		first := ts.login(t, "alice", "alice-password", "")
		session := mustSession(t, ts, first.AccessToken)
		const n = 50
		got := make([]*gatehousev1.IssueTokenResponse, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				got[i], errs[i] = ts.refresh(first.RefreshToken)
			})
		}
		close(start)
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if got[i].RefreshToken != got[0].RefreshToken {
				t.Fatalf("callers 0 and %d got different successors", i)
			}
		}
		ts.wantSession(t, "a parallel answer", got[n-1].AccessToken, session)
		// One live token in the session: exactly one successor was stored.
		ls, err := ts.admin.ListSessions(ts.adminCtx(t), &gatehousev1.ListSessionsRequest{Id: aliceID})
		if err != nil || len(ls.Sessions) != 1 || ls.Sessions[0].Id != session {
			t.Fatalf("sessions after the parallel refreshes: %v, %v; want just %s", ls.GetSessions(), err, session)
		}
		if _, err := ts.refresh(got[0].RefreshToken); err != nil {
			t.Errorf("the one successor: %v", err)
		}
	})
}

func mustSession(t *testing.T, ts *testServer, accessToken string) string {
	t.Helper()
	v, err := ts.validate(accessToken)
	if err != nil || v.Principal.SessionId == "" {
		t.Fatalf("access token of a session: %v %v", v, err)
	}
	return v.Principal.SessionId
}
