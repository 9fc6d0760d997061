package grpcapi

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/telemetry"
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

// Option configures NewServer.
type Option func(*serverOptions)

type serverOptions struct {
	accessLog bool
	unary     []grpc.UnaryServerInterceptor
	stream    []grpc.StreamServerInterceptor
	server    []grpc.ServerOption
}

// WithAccessLog writes one info line per call from a gRPC client (calls
// from the in-process REST gateway are logged by the HTTP layer instead).
func WithAccessLog(on bool) Option {
	return func(o *serverOptions) { o.accessLog = on }
}

// WithInterceptors adds observing interceptors (metrics): they run after
// the request info is attached and before the access log, recovery and the
// authorization gate, so that they see every call and its final code.
func WithInterceptors(u grpc.UnaryServerInterceptor, s grpc.StreamServerInterceptor) Option {
	return func(o *serverOptions) {
		if u != nil {
			o.unary = append(o.unary, u)
		}
		if s != nil {
			o.stream = append(o.stream, s)
		}
	}
}

// WithServerOptions adds grpc server options (a stats handler, say).
func WithServerOptions(opts ...grpc.ServerOption) Option {
	return func(o *serverOptions) { o.server = append(o.server, opts...) }
}

// NewServer returns a gRPC server with AuthService, AdminService, the
// standard health service and server reflection registered, bounded by
// lim. A request that does not decode is answered with INVALID_ARGUMENT.
// Every call passes the authorization gate (authz.go) first, whether it
// comes from a gRPC client or from REST through the in-process gateway.
func NewServer(c *core.Service, hs *health.Server, log *slog.Logger, lim Limits, opts ...Option) (*grpc.Server, error) {
	var o serverOptions
	for _, opt := range opts {
		opt(&o)
	}
	cdc, err := newCodec()
	if err != nil {
		return nil, err
	}
	unary, stream := interceptorChain(c, log, o)
	srvOpts := append(lim.options(),
		grpc.ForceServerCodecV2(cdc),
		// Reused handler goroutines keep their grown stacks: a new goroutine
		// per call spent ~10 % of ValidateToken's CPU growing its stack
		// through the interceptor chain (docs/benchmarks.md).
		grpc.NumStreamWorkers(uint32(4*runtime.GOMAXPROCS(0))),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	)
	srv := grpc.NewServer(append(srvOpts, o.server...)...)
	reg := registrar{srv}
	gatehousev1.RegisterAuthServiceServer(reg, NewAuthServer(c, log))
	gatehousev1.RegisterAdminServiceServer(reg, NewAdminServer(c, log))
	healthpb.RegisterHealthServer(reg, hs)
	reflection.Register(reg)
	return srv, nil
}

// interceptorChain is every call's way to its handler, outermost first:
// the request info, the observing interceptors, the access log, recovery
// and the authorization gate.
func interceptorChain(c *core.Service, log *slog.Logger, o serverOptions) ([]grpc.UnaryServerInterceptor, []grpc.StreamServerInterceptor) {
	g := newGate(c, log)
	ri := requestInfo{core: c}
	unary := append([]grpc.UnaryServerInterceptor{ri.unary}, o.unary...)
	stream := append([]grpc.StreamServerInterceptor{ri.stream}, o.stream...)
	if o.accessLog {
		u, s := accessLog(log)
		unary, stream = append(unary, u), append(stream, s)
	}
	unary = append(unary, recoverUnary(log), g.unary)
	stream = append(stream, recoverStream(log), g.stream)
	return unary, stream
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

// requestInfo is the outermost interceptor: it attaches a core.RequestInfo
// with the request id (the caller's x-request-id when sane, else a new one)
// and the client IP. A gRPC client gets the id back in the response
// metadata; the in-process gateway (which already answered the HTTP client
// with it) gets the caller the gate authenticated instead, for the HTTP
// access log.
type requestInfo struct{ core *core.Service }

func (r requestInfo) attach(ctx context.Context) (context.Context, *core.RequestInfo, bool) {
	var incoming string
	if v := metadata.ValueFromIncomingContext(ctx, telemetry.RequestIDKey); len(v) > 0 {
		incoming = v[0]
	}
	ri := &core.RequestInfo{ID: telemetry.RequestID(incoming)}
	if r.core != nil {
		ri.IP = clientIP(ctx, r.core)
	}
	return core.WithRequestInfo(ctx, ri), ri, fromInProcess(ctx)
}

func (r requestInfo) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	ctx, ri, inProcess := r.attach(ctx)
	if !inProcess {
		_ = grpc.SetHeader(ctx, metadata.Pairs(telemetry.RequestIDKey, ri.ID))
	}
	resp, err := next(ctx, req)
	if inProcess && ri.Actor != "" {
		// Headers go out after the interceptors return, errors included.
		_ = grpc.SetHeader(ctx, metadata.Pairs(telemetry.ActorKey, ri.Actor))
	}
	return resp, err
}

func (r requestInfo) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	ctx, ri, inProcess := r.attach(ss.Context())
	if !inProcess {
		_ = ss.SetHeader(metadata.Pairs(telemetry.RequestIDKey, ri.ID))
	}
	return next(srv, &gatedStream{ServerStream: ss, ctx: ctx})
}

// accessLog writes one info line per finished call of a gRPC client:
// service, method, code, status message (caller-safe by construction),
// duration, request id, client IP and, once the gate authenticated it, the
// caller's account id. Payloads and metadata are never logged: they hold
// tokens, secrets and passwords. Calls of the in-process gateway are
// skipped: the HTTP layer logs them, so that a REST call makes exactly one
// line. go-grpc-middleware's interceptor framework times the call and names
// its parts; the line itself is one slog.LogAttrs, because its logging
// interceptor's field merging cost ValidateToken some 80 allocations.
func accessLog(log *slog.Logger) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	reportable := interceptors.CommonReportableFunc(func(ctx context.Context, c interceptors.CallMeta) (interceptors.Reporter, context.Context) {
		if fromInProcess(ctx) || !log.Enabled(ctx, slog.LevelInfo) {
			return interceptors.NoopReporter{}, ctx
		}
		return &accessReporter{log: log, ctx: ctx, call: c}, ctx
	})
	return interceptors.UnaryServerInterceptor(reportable), interceptors.StreamServerInterceptor(reportable)
}

// accessReporter writes a call's access-log line when it ends.
type accessReporter struct {
	interceptors.NoopReporter
	log  *slog.Logger
	ctx  context.Context
	call interceptors.CallMeta
}

func (r *accessReporter) PostCall(err error, d time.Duration) {
	st, _ := status.FromError(err)
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("protocol", "grpc"),
		slog.String("grpc.service", r.call.Service),
		slog.String("grpc.method", r.call.Method),
		slog.String("grpc.code", st.Code().String()),
		slog.Float64("duration_ms", telemetry.DurationMillis(d)),
	)
	if err != nil {
		attrs = append(attrs, slog.String("grpc.message", st.Message()))
	}
	if ri := core.RequestInfoFrom(r.ctx); ri != nil {
		attrs = append(attrs, slog.String("request_id", ri.ID), slog.String("ip", ri.IP))
		if ri.Actor != "" {
			attrs = append(attrs, slog.String("subject", ri.Actor))
		}
	}
	r.log.LogAttrs(r.ctx, slog.LevelInfo, telemetry.AccessLogMessage, attrs...)
}
