// Package greeter is a small gRPC service protected by the gatehouse SDK,
// and its client: the service requires a token with role "greeter" and
// answers with the caller's client id; the client gets its token with the
// client_credentials grant. The service is declared by hand (a ServiceDesc
// over wrapperspb.StringValue) so that the example needs no code generation.
package greeter

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/gatehouse/gatehouse/sdk/go/gatehouse"
)

// HelloMethod is the service's one method.
const HelloMethod = "/gatehouse.example.Greeter/Hello"

// Role is what a caller must hold.
const Role = "greeter"

// Rules are the service's per-method requirements for the interceptors.
var Rules = gatehouse.MethodRules{
	Methods: map[string]gatehouse.Requirement{HelloMethod: {Roles: []string{Role}}},
}

// NewServer returns a gRPC server with the greeter behind the SDK's
// interceptors.
func NewServer(v *gatehouse.Verifier, opts ...grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.ChainUnaryInterceptor(gatehouse.UnaryServerInterceptor(v, Rules)),
		grpc.ChainStreamInterceptor(gatehouse.StreamServerInterceptor(v, Rules)),
	)
	s := grpc.NewServer(opts...)
	s.RegisterService(&serviceDesc, greeter{})
	return s
}

type greeterServer interface {
	hello(context.Context, *wrapperspb.StringValue) (*wrapperspb.StringValue, error)
}

type greeter struct{}

func (greeter) hello(ctx context.Context, name *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
	p, ok := gatehouse.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no principal")
	}
	return wrapperspb.String(fmt.Sprintf("hello %s, from %s", name.GetValue(), p.ClientID)), nil
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "gatehouse.example.Greeter",
	HandlerType: (*greeterServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Hello",
		Handler: func(srv any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			call := func(ctx context.Context, req any) (any, error) {
				return srv.(greeterServer).hello(ctx, req.(*wrapperspb.StringValue))
			}
			if ic == nil {
				return call(ctx, in)
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: HelloMethod}, call)
		},
	}},
}

// Hello calls the greeter; conn carries the caller's credentials
// (grpc.WithPerRPCCredentials(gatehouse.PerRPCCredentials(...))).
func Hello(ctx context.Context, conn grpc.ClientConnInterface, name string) (string, error) {
	out := new(wrapperspb.StringValue)
	if err := conn.Invoke(ctx, HelloMethod, wrapperspb.String(name), out); err != nil {
		return "", err
	}
	return out.GetValue(), nil
}
