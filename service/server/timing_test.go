package server_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/service/server"
)

// TestUnknownUserCostsTheSame: a login for a name that does not exist runs
// the same argon2id work as a wrong password, so response time does not tell
// which usernames exist. Medians of several tries, with a generous bound.
func TestUnknownUserCostsTheSame(t *testing.T) {
	if testing.Short() {
		t.Skip("timing comparison skipped in -short mode")
	}
	ts := startServer(t, "", func(c *server.Config) {
		c.Argon2 = secrets.DefaultParams()
		c.Core.UserThrottle.MaxFailures = 100 // this test is about timing, not lockout
		c.Core.IPThrottle.MaxFailures = 100
	})
	if _, err := ts.admin.CreateUser(ts.adminCtx(t), &gatehousev1.CreateUserRequest{Username: "alice", Password: "alice-password"}); err != nil {
		t.Fatal(err)
	}
	median := func(username string) time.Duration {
		var d []time.Duration
		for range 7 {
			start := time.Now()
			_, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: username, Password: "not-the-password"})
			d = append(d, time.Since(start))
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("%s: %v", username, err)
			}
		}
		slices.Sort(d)
		return d[len(d)/2]
	}
	known, unknown := median("alice"), median("nobody-by-this-name")
	t.Logf("median wrong password %s, unknown user %s", known, unknown)
	if unknown < known/2 || known < unknown/2 {
		t.Errorf("unknown user took %s, wrong password %s: timing reveals which names exist", unknown, known)
	}
}

// TestHealthAndReflection: the standard gRPC services grpcurl and load
// balancers rely on are registered.
func TestHealthAndReflection(t *testing.T) {
	ts := startServer(t, "")
	res, err := healthpb.NewHealthClient(ts.conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "gatehouse.v1.AuthService"})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health = %v, %v", res, err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	got, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	for _, want := range []string{"gatehouse.v1.AuthService", "gatehouse.v1.AdminService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}
