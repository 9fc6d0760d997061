package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// directWith is a Direct serving the standard health service behind
// interceptors.
func directWith(interceptors ...grpc.UnaryServerInterceptor) *Direct {
	d := &Direct{methods: map[string]directMethod{}, unary: chainUnary(interceptors)}
	hs := health.NewServer()
	hs.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(d, hs)
	return d
}

const healthCheck = "/grpc.health.v1.Health/Check"

// TestDirectCall: a call reaches the handler through the interceptors in
// order, with the caller's outgoing metadata as incoming metadata, the
// in-process peer and no outgoing metadata; headers and trailers the
// chain sets come back in the call options; the reply is the handler's.
func TestDirectCall(t *testing.T) {
	var order []string
	var sawMD metadata.MD
	var sawPeer, sawOutgoing bool
	first := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		order = append(order, "first "+info.FullMethod)
		sawMD, _ = metadata.FromIncomingContext(ctx)
		sawPeer = fromInProcess(ctx)
		out, _ := metadata.FromOutgoingContext(ctx)
		sawOutgoing = len(out) > 0
		if m, ok := grpc.Method(ctx); !ok || m != healthCheck {
			t.Errorf("grpc.Method = %q, %v", m, ok)
		}
		resp, err := next(ctx, req)
		grpc.SetTrailer(ctx, metadata.Pairs("t", "1"))
		return resp, err
	}
	second := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		order = append(order, "second")
		grpc.SetHeader(ctx, metadata.Pairs("h", "1"))
		grpc.SendHeader(ctx, metadata.Pairs("h2", "2"))
		return next(ctx, req)
	}
	d := directWith(first, second)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer x", "x-forwarded-for", "192.0.2.1")
	var header, trailer metadata.MD
	reply := new(healthpb.HealthCheckResponse)
	if err := d.Invoke(ctx, healthCheck, &healthpb.HealthCheckRequest{Service: "up"}, reply, grpc.Header(&header), grpc.Trailer(&trailer)); err != nil {
		t.Fatal(err)
	}
	if reply.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("reply %v, want SERVING", reply)
	}
	if !slices.Equal(order, []string{"first " + healthCheck, "second"}) {
		t.Errorf("interceptors ran %q", order)
	}
	if got := sawMD.Get("authorization"); !slices.Equal(got, []string{"Bearer x"}) || !slices.Equal(sawMD.Get("x-forwarded-for"), []string{"192.0.2.1"}) {
		t.Errorf("incoming metadata %v", sawMD)
	}
	if !sawPeer || sawOutgoing {
		t.Errorf("in-process peer %v, outgoing metadata left %v", sawPeer, sawOutgoing)
	}
	if header.Get("h")[0] != "1" || header.Get("h2")[0] != "2" || trailer.Get("t")[0] != "1" {
		t.Errorf("header %v trailer %v", header, trailer)
	}
}

// TestDirectErrors: what fails arrives as a gRPC client would see it.
func TestDirectErrors(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name   string
		ctx    context.Context
		method string
		fail   error // the interceptor's error; nil: call the handler
		req    any
		reply  any
		want   codes.Code
	}{
		{"status error kept", context.Background(), healthCheck, status.Error(codes.PermissionDenied, "no"), nil, nil, codes.PermissionDenied},
		{"wrapped status error", context.Background(), healthCheck, fmt.Errorf("gate: %w", status.Error(codes.Unauthenticated, "who")), nil, nil, codes.Unauthenticated},
		{"plain error is Unknown", context.Background(), healthCheck, errors.New("boom"), nil, nil, codes.Unknown},
		{"context error keeps its code", context.Background(), healthCheck, context.DeadlineExceeded, nil, nil, codes.DeadlineExceeded},
		{"canceled before the call", canceled, healthCheck, nil, &healthpb.HealthCheckRequest{}, new(healthpb.HealthCheckResponse), codes.Canceled},
		{"unknown method", context.Background(), "/x.Y/Z", nil, &healthpb.HealthCheckRequest{}, new(healthpb.HealthCheckResponse), codes.Unimplemented},
		{"handler's own error", context.Background(), healthCheck, nil, &healthpb.HealthCheckRequest{Service: "down"}, new(healthpb.HealthCheckResponse), codes.NotFound},
		{"request of another type", context.Background(), healthCheck, nil, &emptypb.Empty{}, new(healthpb.HealthCheckResponse), codes.Internal},
		{"reply of another type", context.Background(), healthCheck, nil, &healthpb.HealthCheckRequest{Service: "up"}, new(emptypb.Empty), codes.Internal},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := directWith(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
				if c.fail != nil {
					return nil, c.fail
				}
				return next(ctx, req)
			})
			req, reply := c.req, c.reply
			if req == nil {
				req, reply = &healthpb.HealthCheckRequest{}, new(healthpb.HealthCheckResponse)
			}
			err := d.Invoke(c.ctx, c.method, req, reply)
			if st, ok := status.FromError(err); !ok || st.Code() != c.want || errors.Unwrap(err) != nil {
				t.Errorf("error %v, want a bare status error with code %v", err, c.want)
			}
		})
	}
	if _, err := directWith().NewStream(context.Background(), &grpc.StreamDesc{}, "/grpc.health.v1.Health/Watch"); status.Code(err) != codes.Unimplemented {
		t.Errorf("NewStream: %v, want Unimplemented", err)
	}
}

// TestDirectCopiesMessages: the handler gets a copy of the request, the
// caller a copy of the reply; neither shares the other's message.
func TestDirectCopiesMessages(t *testing.T) {
	var seen *healthpb.HealthCheckRequest
	d := directWith(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		seen = req.(*healthpb.HealthCheckRequest)
		return next(ctx, req)
	})
	req := &healthpb.HealthCheckRequest{Service: "up"}
	if err := d.Invoke(context.Background(), healthCheck, req, new(healthpb.HealthCheckResponse)); err != nil {
		t.Fatal(err)
	}
	if seen == req || seen.GetService() != "up" {
		t.Errorf("the handler got %p %v, the caller sent %p", seen, seen, req)
	}
}
