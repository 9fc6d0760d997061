package grpcapi

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
)

// MaxMessageSize bounds incoming messages; a token is at most 8 KiB, and no
// call needs more than this.
const MaxMessageSize = 256 << 10

// NewServer returns a gRPC server with AuthService, AdminService, the
// standard health service and server reflection registered.
func NewServer(c *core.Service, hs *health.Server, log *slog.Logger) *grpc.Server {
	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.ChainUnaryInterceptor(recoverUnary(log), logUnary(log)),
	)
	gatehousev1.RegisterAuthServiceServer(srv, NewAuthServer(c, log))
	gatehousev1.RegisterAdminServiceServer(srv, NewAdminServer(c, log))
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv
}

// recoverUnary turns a panic into INTERNAL and logs the stack, so that a
// bug never leaks a stack trace to the caller or kills the process.
func recoverUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return next(ctx, req)
	}
}

// logUnary logs every call at debug level; internal errors are logged at
// error level where they happen. Failed validations are not logged above
// debug: under a flood of junk tokens that would only fill the disk.
// Requests are never logged: they hold tokens and passwords.
func logUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if !log.Enabled(ctx, slog.LevelDebug) {
			return next(ctx, req)
		}
		start := time.Now()
		resp, err := next(ctx, req)
		log.DebugContext(ctx, "grpc call", "method", info.FullMethod, "code", status.Code(err).String(), "duration", time.Since(start))
		return resp, err
	}
}
