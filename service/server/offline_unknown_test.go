package server_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// TestOfflineUnknownTokenCached: an unknown gho_ token costs one database
// read per 30 s, whichever way it is presented. The database is closed after
// the first read: a second answer of Unauthenticated (not Internal) came
// from the cache, and after the window the read is tried again.
func TestOfflineUnknownTokenCached(t *testing.T) {
	for _, tc := range []struct {
		name    string
		present func(ts *testServer, token string) error
	}{
		{"refresh grant", func(ts *testServer, token string) error {
			_, err := ts.refresh(token)
			return err
		}},
		{"refresh grant with a scope", func(ts *testServer, token string) error {
			_, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "refresh_token", RefreshToken: token, Scope: "openid"})
			return err
		}},
		{"ValidateToken", func(ts *testServer, token string) error {
			_, err := ts.validateOffline(token)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, "")
			junk := "gho_" + rand.Text() + rand.Text()[:17] // 26 + 17 base32 characters
			if err := tc.present(ts, junk); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("unknown token: %v, want Unauthenticated", err)
			}
			ts.app.Close() // every database call fails from here on
			for range 3 {
				if err := tc.present(ts, junk); readFailed(err) {
					t.Fatalf("unknown token again: %v, want Unauthenticated without a database read", err)
				}
			}
			ts.clock.Advance(31 * time.Second)
			if err := tc.present(ts, junk); !readFailed(err) {
				t.Errorf("after the window the answer still came from the cache (%v); the database is down", err)
			}
		})
	}
}

// readFailed reports whether err is a failed database read (ValidateToken
// says so as Unauthenticated "could not read …", the grant as Internal).
func readFailed(err error) bool {
	return status.Code(err) != codes.Unauthenticated || strings.Contains(status.Convert(err).Message(), "could not read")
}

// TestOfflineTokenWorksAfterUnknownOnes: junk tokens in the cache do not
// affect real offline tokens.
func TestOfflineTokenWorksAfterUnknownOnes(t *testing.T) {
	ts := startServer(t, "")
	seed(t, ts)
	for range 10 {
		if _, err := ts.refresh("gho_" + rand.Text() + rand.Text()[:17]); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("junk token: %v", err)
		}
	}
	offline := ts.login(t, "alice", "alice-password", "offline_access").RefreshToken
	if _, err := ts.refresh(offline); err != nil {
		t.Fatalf("offline token after junk ones: %v", err)
	}
	if _, err := ts.validateOffline(offline); err != nil {
		t.Fatalf("ValidateToken(offline) after junk ones: %v", err)
	}
}
