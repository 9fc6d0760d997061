package server_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

func (ts *testServer) login(t *testing.T, username, password, scope string) *gatehousev1.IssueTokenResponse {
	t.Helper()
	res, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: username, Password: password, Scope: scope})
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	return res
}

func (ts *testServer) refresh(refreshToken string) (*gatehousev1.IssueTokenResponse, error) {
	return ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "refresh_token", RefreshToken: refreshToken})
}

func (ts *testServer) validate(token string) (*gatehousev1.ValidateTokenResponse, error) {
	return ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: token})
}

// validateOffline is validate for a service that takes offline tokens.
func (ts *testServer) validateOffline(token string) (*gatehousev1.ValidateTokenResponse, error) {
	return ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: token, AllowOfflineToken: true})
}

func TestRefreshRotationAndReplay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		first := ts.login(t, "alice", "alice-password", "openid email")
		if !strings.HasPrefix(first.RefreshToken, "ghr_") || len(first.RefreshToken) != 47 {
			t.Fatalf("refresh token %q lacks the ghr_ prefix or 256 bits", first.RefreshToken[:8])
		}
		v, err := ts.validate(first.AccessToken)
		if err != nil || v.Principal.SessionId == "" {
			t.Fatalf("access token of a session: %v %v", v, err)
		}
		second, err := ts.refresh(first.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken || second.Scope != "openid email" {
			t.Errorf("refresh did not rotate: %+v", second)
		}
		if v2, err := ts.validate(second.AccessToken); err != nil || v2.Principal.SessionId != v.Principal.SessionId {
			t.Errorf("refreshed access token: %v, session %q vs %q", err, v2.GetPrincipal().GetSessionId(), v.Principal.SessionId)
		}
		// Narrowing on refresh is allowed; widening is not.
		if _, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "refresh_token", RefreshToken: second.RefreshToken, Scope: "openid profile"}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("widening scope on refresh: %v", err)
		}
		// Replaying the used token after the reuse grace (a retry within
		// it gets the same successor: refresh_grace_test.go) revokes the
		// whole family.
		ts.clock.Advance(ts.app.Core().Config().RefreshReuseGrace + time.Second)
		if _, err := ts.refresh(first.RefreshToken); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "already used") {
			t.Fatalf("replay: %v", err)
		}
		if _, err := ts.refresh(second.RefreshToken); status.Code(err) != codes.Unauthenticated {
			t.Errorf("successor after replay: %v", err)
		}
		for _, tok := range []string{first.AccessToken, second.AccessToken} {
			if _, err := ts.validate(tok); status.Code(err) != codes.Unauthenticated {
				t.Errorf("access token of the revoked session: %v", err)
			}
		}
		// Client credentials get no refresh token; junk refresh tokens are refused.
		for _, bad := range []string{"", "ghr_short", "ghr_" + strings.Repeat("A", 43), "not-a-token"} {
			_, err := ts.refresh(bad)
			if want := codes.Unauthenticated; bad == "" && status.Code(err) != codes.InvalidArgument || bad != "" && status.Code(err) != want {
				t.Errorf("refresh(%q): %v", bad, err)
			}
		}
	})
}

func TestRefreshExpiry(t *testing.T) {
	ts := startServer(t, "", func(c *server.Config) {
		c.Core.RefreshIdleTTL = time.Hour
		c.Core.RefreshAbsoluteTTL = 3 * time.Hour
	})
	seed(t, ts)
	tok := ts.login(t, "alice", "alice-password", "").RefreshToken
	for range 4 { // keep it in use: idle never passes, the absolute lifetime does
		ts.clock.Advance(50 * time.Minute)
		res, err := ts.refresh(tok)
		if err != nil {
			break
		}
		tok = res.RefreshToken
	}
	if _, err := ts.refresh(tok); status.Code(err) != codes.Unauthenticated {
		t.Errorf("past the absolute lifetime: %v", err)
	}
	idle := ts.login(t, "alice", "alice-password", "").RefreshToken
	ts.clock.Advance(61 * time.Minute)
	if _, err := ts.refresh(idle); status.Code(err) != codes.Unauthenticated {
		t.Errorf("past the idle timeout: %v", err)
	}
}

// TestParallelRefreshOneWinner: without a reuse grace, 50 concurrent
// refreshes of one token give exactly one new token (with one, all get the
// same: TestParallelRefreshWithinGrace).
func TestParallelRefreshOneWinner(t *testing.T) {
	forEachBackendWith(t, []serverOption{withGrace(0)}, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		tok := ts.login(t, "alice", "alice-password", "").RefreshToken
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 50 {
			wg.Go(func() {
				<-start
				_, err := ts.refresh(tok)
				switch status.Code(err) {
				case codes.OK:
					ok.Add(1)
				case codes.Unauthenticated:
					refused.Add(1)
				default:
					t.Errorf("unexpected answer: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if ok.Load() != 1 || refused.Load() != 49 {
			t.Errorf("%d successes, %d refusals; want exactly 1 and 49", ok.Load(), refused.Load())
		}
	})
}

func TestOfflineToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		aliceID, _ := seed(t, ts)
		res := ts.login(t, "alice", "alice-password", "openid offline_access")
		offline := res.RefreshToken
		if !strings.HasPrefix(offline, "gho_") {
			t.Fatalf("offline token prefix: %q", offline[:4])
		}
		ctx := ts.adminCtx(t)
		lastUsed := func() time.Time {
			s, err := ts.admin.ListSessions(ctx, &gatehousev1.ListSessionsRequest{Id: aliceID})
			if err != nil || len(s.Sessions) != 1 || !s.Sessions[0].Offline || s.Sessions[0].ExpiresAt != nil {
				t.Fatalf("sessions = %v, %v", s, err)
			}
			return s.Sessions[0].LastUsedAt.AsTime()
		}
		ts.clock.Advance(time.Minute)
		r1, err := ts.refresh(offline)
		if err != nil {
			t.Fatal(err)
		}
		used := lastUsed()
		ts.clock.Advance(time.Minute)
		r2, err := ts.refresh(offline)
		if err != nil {
			t.Fatal(err)
		}
		if r1.AccessToken != r2.AccessToken || r2.RefreshToken != "" {
			t.Errorf("second renew signed a new token or rotated the offline token")
		}
		// The cached token is a minute older: expires_in says what is left
		// of it, not its original lifetime (clients renew by it).
		if ttl := int64(server.DefaultConfig().Core.AccessTokenTTL / time.Second); r1.ExpiresIn != ttl || r2.ExpiresIn < ttl-61 || r2.ExpiresIn > ttl-59 {
			t.Errorf("expires_in %d then %d a minute later, want %d then %d", r1.ExpiresIn, r2.ExpiresIn, ttl, ttl-60)
		}
		if lastUsed() != used {
			t.Errorf("second renew wrote to the database (last used moved)")
		}
		// The offline token is a credential by itself.
		v, err := ts.validateOffline(offline)
		if err != nil || v.Principal.Username != "alice" || v.Principal.Subject != aliceID {
			t.Fatalf("ValidateToken(offline) = %v, %v", v, err)
		}
		// Near the access token's expiry a new one is signed; the offline token stays.
		ts.clock.Advance(14 * time.Minute)
		r3, err := ts.refresh(offline)
		if err != nil || r3.AccessToken == r1.AccessToken {
			t.Errorf("renew near expiry: same token or %v", err)
		}
		// Revoking the offline token ends it and its access tokens.
		if _, err := ts.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: offline}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.refresh(offline); status.Code(err) != codes.Unauthenticated {
			t.Errorf("refresh after revoke: %v", err)
		}
		for _, tok := range []string{offline, r3.AccessToken} {
			if _, err := ts.validateOffline(tok); status.Code(err) != codes.Unauthenticated {
				t.Errorf("validate after revoke: %v", err)
			}
		}
	})
}

// TestOfflineRenewNeedsNoDatabase: within its cache period an offline token
// renews and validates with the database gone.
func TestOfflineRenewNeedsNoDatabase(t *testing.T) {
	ts := startServer(t, "")
	seed(t, ts)
	offline := ts.login(t, "alice", "alice-password", "offline_access").RefreshToken
	first, err := ts.refresh(offline)
	if err != nil {
		t.Fatal(err)
	}
	ts.app.Close() // every database call fails from here on
	again, err := ts.refresh(offline)
	if err != nil || again.AccessToken != first.AccessToken {
		t.Fatalf("cached renew touched the database: %v", err)
	}
	if _, err := ts.validateOffline(offline); err != nil {
		t.Errorf("ValidateToken(offline) touched the database: %v", err)
	}
}

func TestRevocation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		aliceID, secret := seed(t, ts)
		ctx := ts.adminCtx(t)
		// An access token by itself (RFC 7009 with an access token).
		a := ts.login(t, "alice", "alice-password", "")
		if _, err := ts.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: a.AccessToken, TokenTypeHint: "access_token"}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.validate(a.AccessToken); status.Code(err) != codes.Unauthenticated {
			t.Errorf("revoked access token: %v", err)
		}
		if _, err := ts.refresh(a.RefreshToken); err != nil {
			t.Errorf("revoking an access token must leave its session: %v", err)
		}
		// Unknown and malformed tokens are not an error (RFC 7009 §2.2).
		for _, tok := range []string{"ghr_" + strings.Repeat("x", 43), "garbage", a.AccessToken} {
			if _, err := ts.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: tok}); err != nil {
				t.Errorf("revoke %q: %v", tok[:6], err)
			}
		}
		if _, err := ts.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("revoke without token: %v", err)
		}
		// A client may not revoke another client's token.
		b := ts.login(t, "alice", "alice-password", "")
		if _, err := ts.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: b.RefreshToken, ClientId: "reporter", ClientSecret: secret}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("revoke by another client: %v", err)
		}
		// Admin: list, revoke one session, revoke all.
		list, err := ts.admin.ListSessions(ctx, &gatehousev1.ListSessionsRequest{Id: aliceID})
		if err != nil || len(list.Sessions) != 2 {
			t.Fatalf("sessions = %v, %v", list, err)
		}
		if _, err := ts.admin.RevokeSession(ctx, &gatehousev1.RevokeSessionRequest{Id: list.Sessions[0].Id}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.admin.RevokeSession(ctx, &gatehousev1.RevokeSessionRequest{Id: "nope"}); status.Code(err) != codes.NotFound {
			t.Errorf("revoke unknown session: %v", err)
		}
		c := ts.login(t, "alice", "alice-password", "offline_access")
		n, err := ts.admin.RevokeAllSessions(ctx, &gatehousev1.RevokeAllSessionsRequest{Id: aliceID})
		if err != nil || n.Revoked != 2 {
			t.Fatalf("revoke all = %v, %v", n, err)
		}
		for _, tok := range []string{b.AccessToken, c.AccessToken, c.RefreshToken} {
			if _, err := ts.validate(tok); status.Code(err) != codes.Unauthenticated {
				t.Errorf("token after revoke-all: %v", err)
			}
		}
		if list, _ := ts.admin.ListSessions(ctx, &gatehousev1.ListSessionsRequest{Id: aliceID}); len(list.GetSessions()) != 0 {
			t.Errorf("sessions after revoke-all: %v", list)
		}
		// A new login after revoke-all works again (issued after the cut-off second).
		ts.clock.Advance(time.Second)
		if _, err := ts.validate(ts.login(t, "alice", "alice-password", "").AccessToken); err != nil {
			t.Errorf("fresh login after revoke-all: %v", err)
		}
		if _, err := ts.admin.ListSessions(bearer(context.Background(), b.AccessToken), &gatehousev1.ListSessionsRequest{Id: aliceID}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("sessions with a revoked token: %v", err)
		}
	})
}

func TestIntrospectGRPC(t *testing.T) {
	ts := startServer(t, "")
	_, secret := seed(t, ts)
	res := ts.login(t, "alice", "alice-password", "openid")
	in := func(tok, id, sec string) (*gatehousev1.IntrospectTokenResponse, error) {
		return ts.auth.IntrospectToken(context.Background(), &gatehousev1.IntrospectTokenRequest{Token: tok, ClientId: id, ClientSecret: sec})
	}
	got, err := in(res.AccessToken, "reporter", secret)
	if err != nil || !got.Active || got.Username != "alice" || got.TokenType != "access_token" || got.Scope != "openid" || got.Exp == 0 || got.SessionId == "" {
		t.Errorf("access token: %+v, %v", got, err)
	}
	got, err = in(res.RefreshToken, "reporter", secret)
	if err != nil || !got.Active || got.TokenType != "refresh_token" || got.Username != "alice" {
		t.Errorf("refresh token: %+v, %v", got, err)
	}
	if got, err := in("garbage", "reporter", secret); err != nil || got.Active || got.Username != "" {
		t.Errorf("garbage: %+v, %v", got, err)
	}
	if _, err := in(res.AccessToken, "reporter", "wrong"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong client secret: %v", err)
	}
	if _, err := in(res.AccessToken, "", ""); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no client auth: %v", err)
	}
	// A user's bearer token is not a client.
	if _, err := ts.auth.IntrospectToken(bearer(context.Background(), res.AccessToken), &gatehousev1.IntrospectTokenRequest{Token: res.AccessToken}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("user bearer: %v", err)
	}
}

func TestLockout(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, b.DSN(t), func(c *server.Config) {
				c.Core.UserThrottle.MaxFailures = 3
				c.Core.UserThrottle.Window = time.Minute
				c.Core.UserThrottle.Lockout = 2 * time.Minute
				c.Core.IPThrottle.MaxFailures = 12
			})
			seed(t, ts)
			replica := ts.replica(t)
			try := func(s *testServer, user, pw string) error {
				_, err := s.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: user, Password: pw})
				return err
			}
			for _, user := range []string{"alice", "ghost"} { // unknown names answer alike
				for i := range 3 {
					if err := try(ts, user, "wrong-password"); status.Code(err) != codes.Unauthenticated {
						t.Fatalf("%s failure %d: %v", user, i, err)
					}
				}
				// Locked, on every replica, even with the right password; no hash is run.
				err := try(replica, user, "alice-password")
				if status.Code(err) != codes.ResourceExhausted {
					t.Fatalf("%s after 3 failures: %v", user, err)
				}
				var retry *errdetails.RetryInfo
				for _, d := range status.Convert(err).Details() {
					if r, ok := d.(*errdetails.RetryInfo); ok {
						retry = r
					}
				}
				if retry == nil || retry.RetryDelay.AsDuration() <= 0 || retry.RetryDelay.AsDuration() > 2*time.Minute {
					t.Errorf("RetryInfo = %v", retry)
				}
			}
			r := ts.do(t, "POST", "/auth/token", "application/json", `{"username":"alice","password":"alice-password"}`, "")
			if r.status != 429 || r.header.Get("Retry-After") == "" {
				t.Errorf("REST during lockout = %d, Retry-After %q", r.status, r.header.Get("Retry-After"))
			}
			// The lockout ends by itself; success resets the count.
			ts.clock.Advance(2*time.Minute + time.Second)
			if err := try(ts, "alice", "alice-password"); err != nil {
				t.Fatalf("after the lockout: %v", err)
			}
			for range 2 {
				try(ts, "alice", "wrong-password")
			}
			if err := try(ts, "alice", "alice-password"); err != nil {
				t.Errorf("2 failures after a reset must not lock: %v", err)
			}
			// The per-IP counter (12, of which 8 are used above) catches
			// spraying over many names.
			for i := range 4 {
				try(ts, "spray"+string(rune('a'+i)), "wrong-password")
			}
			if err := try(ts, "newcomer", "alice-password"); status.Code(err) != codes.ResourceExhausted {
				t.Errorf("after spraying from one IP: %v", err)
			}
			// alice logged in from this IP before: the IP's lockout does
			// not apply to her.
			if err := try(ts, "alice", "alice-password"); err != nil {
				t.Errorf("alice, trusted from this IP, after spraying: %v", err)
			}
		})
	}
}
