package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestClientIDRules: new client ids may not contain ':' (HTTP Basic cannot
// carry it for clients that do not form-encode the id); the other shapes
// are as before.
func TestClientIDRules(t *testing.T) {
	ts := startServer(t, "")
	ctx := ts.adminCtx(t)
	for _, tc := range []struct {
		id   string
		want codes.Code
	}{
		{"billing", codes.OK},
		{"svc.reports-2_x", codes.OK},
		{"urn:billing", codes.InvalidArgument},
		{"billing:", codes.InvalidArgument},
		{"-billing", codes.InvalidArgument},
		{strings.Repeat("a", 129), codes.InvalidArgument},
	} {
		_, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: tc.id})
		if status.Code(err) != tc.want {
			t.Errorf("client id %.20q: %v, want %s", tc.id, err, tc.want)
		}
		if tc.want == codes.InvalidArgument && strings.Contains(tc.id, ":") && !strings.Contains(status.Convert(err).Message(), "no ':'") {
			t.Errorf("client id %q: the message does not say why: %v", tc.id, err)
		}
	}
}

// TestBusyClientIsNotLockedOut: a service client with the right secret and
// many calls in flight is never locked out (only wrong secrets are counted),
// while wrong secrets still lock it, also against the right one.
func TestBusyClientIsNotLockedOut(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ts := startServer(t, b.DSN(t))
			cr, err := ts.admin.CreateServiceClient(ts.adminCtx(t), &gatehousev1.CreateServiceClientRequest{ClientId: "busy"})
			if err != nil {
				t.Fatal(err)
			}
			issue := func(secret string) error {
				_, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "busy", ClientSecret: secret})
				return err
			}
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for range 32 {
				wg.Go(func() {
					for range 2 {
						if err := issue(cr.ClientSecret); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("correct secret, 32 callers: %v", err)
			}
			// Wrong secrets are counted until the client is locked out...
			locked := false
			for range 50 {
				if err := issue("ghcs_wrong"); status.Code(err) == codes.ResourceExhausted {
					locked = true
					break
				} else if status.Code(err) != codes.Unauthenticated {
					t.Fatalf("wrong secret: %v", err)
				}
			}
			if !locked {
				t.Fatal("50 wrong secrets did not lock the client out")
			}
			// ... and then the right secret is refused too.
			if err := issue(cr.ClientSecret); status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("locked out, the right secret: %v, want RESOURCE_EXHAUSTED", err)
			}
		})
	}
}
