package grpcapi

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
)

// MaxMessageSize is the default bound of a request message; a token is at
// most 8 KiB, and no call needs more than this.
const MaxMessageSize = 256 << 10

// Limits bound what one client can hold on the gRPC listener. A zero or
// negative field takes its value from DefaultLimits. The cap on open
// connections belongs to the listener (see service/server).
type Limits struct {
	// MaxConcurrentStreams is the number of calls one connection may have
	// in flight. The server advertises it in its SETTINGS, refuses streams
	// beyond it (RST_STREAM REFUSED_STREAM), and stops reading a connection
	// while that many of its handlers still run, which bounds the memory
	// and goroutines a stream flood or rapid reset can take.
	MaxConcurrentStreams int
	// MaxHeaderListSize bounds the uncompressed headers of a call.
	MaxHeaderListSize int
	// MaxRecvMsgSize bounds a request message; larger ones end in
	// RESOURCE_EXHAUSTED.
	MaxRecvMsgSize int
	// ConnectionTimeout bounds the handshake of a new connection: a client
	// that has not sent the HTTP/2 preface and SETTINGS by then is dropped.
	ConnectionTimeout time.Duration
	// MaxConnectionIdle closes (GOAWAY) a connection that had no call in
	// flight for this long.
	MaxConnectionIdle time.Duration
	// MaxConnectionAge closes (GOAWAY) a connection this long after it
	// opened (grpc-go adds ±10 % jitter), so that no connection lives
	// forever and clients spread over new replicas.
	MaxConnectionAge time.Duration
	// MaxConnectionAgeGrace is how long calls in flight may still finish
	// after MaxConnectionAge.
	MaxConnectionAgeGrace time.Duration
	// KeepaliveTime is how long a connection may be silent before the
	// server pings it; KeepaliveTimeout is how long the server then waits
	// for the answer before it closes a dead (half-open) connection.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// MinPingInterval is the shortest interval between a client's
	// keepalive pings; a client that pings more often, or pings without a
	// call in flight, gets GOAWAY ENHANCE_YOUR_CALM ("too_many_pings").
	MinPingInterval time.Duration
}

// DefaultLimits returns the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxConcurrentStreams:  256,
		MaxHeaderListSize:     64 << 10,
		MaxRecvMsgSize:        MaxMessageSize,
		ConnectionTimeout:     10 * time.Second,
		MaxConnectionIdle:     5 * time.Minute,
		MaxConnectionAge:      30 * time.Minute,
		MaxConnectionAgeGrace: 30 * time.Second,
		KeepaliveTime:         2 * time.Minute,
		KeepaliveTimeout:      20 * time.Second,
		MinPingInterval:       10 * time.Second,
	}
}

// WithDefaults returns l with every unset field taken from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	orInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	orDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	orInt(&l.MaxConcurrentStreams, d.MaxConcurrentStreams)
	orInt(&l.MaxHeaderListSize, d.MaxHeaderListSize)
	orInt(&l.MaxRecvMsgSize, d.MaxRecvMsgSize)
	orDur(&l.ConnectionTimeout, d.ConnectionTimeout)
	orDur(&l.MaxConnectionIdle, d.MaxConnectionIdle)
	orDur(&l.MaxConnectionAge, d.MaxConnectionAge)
	orDur(&l.MaxConnectionAgeGrace, d.MaxConnectionAgeGrace)
	orDur(&l.KeepaliveTime, d.KeepaliveTime)
	orDur(&l.KeepaliveTimeout, d.KeepaliveTimeout)
	orDur(&l.MinPingInterval, d.MinPingInterval)
	l.MaxConcurrentStreams = min(l.MaxConcurrentStreams, math.MaxUint32)
	l.MaxHeaderListSize = min(l.MaxHeaderListSize, math.MaxUint32)
	return l
}

// options are the grpc server options that enforce l.
func (l Limits) options() []grpc.ServerOption {
	l = l.WithDefaults()
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(l.MaxRecvMsgSize),
		grpc.MaxConcurrentStreams(uint32(l.MaxConcurrentStreams)),
		grpc.MaxHeaderListSize(uint32(l.MaxHeaderListSize)),
		grpc.ConnectionTimeout(l.ConnectionTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     l.MaxConnectionIdle,
			MaxConnectionAge:      l.MaxConnectionAge,
			MaxConnectionAgeGrace: l.MaxConnectionAgeGrace,
			Time:                  l.KeepaliveTime,
			Timeout:               l.KeepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             l.MinPingInterval,
			PermitWithoutStream: false,
		}),
	}
}

// NewServer returns a gRPC server with AuthService, AdminService, the
// standard health service and server reflection registered, bounded by
// lim. A request that does not decode is answered with INVALID_ARGUMENT.
// Every call passes the authorization gate (authz.go) first, whether it
// comes from a gRPC client or from REST through the in-process gateway.
func NewServer(c *core.Service, hs *health.Server, log *slog.Logger, lim Limits) (*grpc.Server, error) {
	cdc, err := newCodec()
	if err != nil {
		return nil, err
	}
	g := newGate(c, log)
	opts := append(lim.options(),
		grpc.ForceServerCodecV2(cdc),
		grpc.ChainUnaryInterceptor(recoverUnary(log), logUnary(log), g.unary),
		grpc.ChainStreamInterceptor(recoverStream(log), g.stream),
	)
	srv := grpc.NewServer(opts...)
	reg := registrar{srv}
	gatehousev1.RegisterAuthServiceServer(reg, NewAuthServer(c, log))
	gatehousev1.RegisterAdminServiceServer(reg, NewAdminServer(c, log))
	healthpb.RegisterHealthServer(reg, hs)
	reflection.Register(reg)
	return srv, nil
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

// recoverStream is recoverUnary for streaming calls.
func recoverStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.ErrorContext(ss.Context(), "panic in handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return next(srv, ss)
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
		via := "grpc"
		if fromInProcess(ctx) {
			via = "rest"
		}
		log.DebugContext(ctx, "grpc call", "method", info.FullMethod, "via", via, "code", status.Code(err).String(), "duration", time.Since(start))
		return resp, err
	}
}
