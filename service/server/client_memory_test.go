package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// A right client secret is checked against the in-memory view: issuing a
// client_credentials token and introspecting need no database.
func TestClientSecretNeedsNoDatabase(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, b.DSN(t))
			_, secret := seed(t, ts)
			reporter := o2Basic("reporter", secret)
			user := o2WantToken(t, ts.o2(t, o2Req{body: o2Form("grant_type", "password", "username", "alice", "password", "alice-password"), authz: reporter}))
			ts.app.Close() // every database call fails from here on
			calls := []struct {
				name string
				req  o2Req
			}{
				{"client_credentials", o2Req{body: o2Form("grant_type", "client_credentials"), authz: reporter}},
				{"client_credentials, secret in the form", o2Req{body: o2Form("grant_type", "client_credentials", "client_id", "reporter", "client_secret", secret)}},
				{"introspect a user token", o2Req{path: "/oauth2/introspect", body: o2Form("token", user.AccessToken), authz: reporter}},
			}
			for _, c := range calls {
				if r := ts.o2(t, c.req); r.status != http.StatusOK {
					t.Errorf("%s with the database closed: %d %s", c.name, r.status, r.body)
				}
			}
		})
	}
}

// A lockout made on one replica refuses the right secret on another within
// a few poll intervals, and an unlock lifts it on both.
func TestClientLockoutReachesReplicas(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			lowLimit := func(c *server.Config) { c.Core.ClientThrottle.MaxFailures = 3 }
			a := startServer(t, b.DSN(t), lowLimit)
			created, err := a.admin.CreateServiceClient(a.adminCtx(t), &gatehousev1.CreateServiceClientRequest{ClientId: "batch"})
			if err != nil {
				t.Fatal(err)
			}
			replicaB := a.replica(t, lowLimit)
			right := o2Form("grant_type", "client_credentials", "client_id", "batch", "client_secret", created.ClientSecret)
			wrong := o2Form("grant_type", "client_credentials", "client_id", "batch", "client_secret", "not-the-secret")
			status := func(ts *testServer, body string) func() int {
				return func() int { return ts.o2(t, o2Req{body: body}).status }
			}
			want := func(ts *testServer, what string, code int) {
				t.Helper()
				eventually(t, 10*time.Second, what, func() error {
					if got := status(ts, right)(); got != code {
						return fmt.Errorf("status %d, want %d", got, code)
					}
					return nil
				})
			}
			for name, ts := range map[string]*testServer{"A": a, "B": replicaB} {
				want(ts, "right secret before the lockout on "+name, http.StatusOK)
			}
			for i := range 3 {
				if got := status(a, wrong)(); got != http.StatusUnauthorized {
					t.Fatalf("wrong secret %d on A: %d", i+1, got)
				}
			}
			for name, ts := range map[string]*testServer{"A": a, "B": replicaB} {
				want(ts, "right secret refused after the lockout on "+name, http.StatusTooManyRequests)
			}
			if _, err := a.admin.UnlockAccount(a.adminCtx(t), &gatehousev1.UnlockAccountRequest{Id: created.Client.Id}); err != nil {
				t.Fatal(err)
			}
			for name, ts := range map[string]*testServer{"A": a, "B": replicaB} {
				want(ts, "right secret after the unlock on "+name, http.StatusOK)
			}
		})
	}
}
