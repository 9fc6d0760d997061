package grpcapi

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestGateRefusesMethodMissingFromTable: a method without a rule never
// reaches its handler, whoever calls.
func TestGateRefusesMethodMissingFromTable(t *testing.T) {
	g := newGate(nil, slog.New(slog.DiscardHandler))
	called := false
	next := func(context.Context, any) (any, error) { called = true; return nil, nil }
	_, err := g.unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/gatehouse.v1.AdminService/NewUnlistedRPC"}, next)
	if status.Code(err) != codes.PermissionDenied || called {
		t.Fatalf("unlisted unary RPC: %v, handler called %v", err, called)
	}
	err = g.stream(nil, fakeStream{}, &grpc.StreamServerInfo{FullMethod: "/gatehouse.v1.AdminService/NewUnlistedStream"}, func(any, grpc.ServerStream) error { called = true; return nil })
	if status.Code(err) != codes.PermissionDenied || called {
		t.Fatalf("unlisted stream RPC: %v, handler called %v", err, called)
	}
	// A listed public method passes.
	if _, err := g.unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/gatehouse.v1.AuthService/GetJWKS"}, next); err != nil || !called {
		t.Fatalf("public RPC: %v, handler called %v", err, called)
	}
}

type fakeStream struct{ grpc.ServerStream }

func (fakeStream) Context() context.Context { return context.Background() }
