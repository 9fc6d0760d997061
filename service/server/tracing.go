package server

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/gatehouse/gatehouse/service/grpcapi"
	"github.com/gatehouse/gatehouse/store"
)

// Tracing is wired here: Config.Tracing (telemetry.NewTracing, nil: off)
// reaches the gRPC servers, the HTTP handler, the REST gateway's in-process
// connection, the store, the core and the federation verifier. When it is
// off the servers get no instrumentation at all and the store no span
// wrapper; the core and the verifier keep a no-op tracer. The OpenTelemetry
// instrumentation is given a no-op meter provider: metrics are Prometheus'
// (and nothing here reads otel's global providers).

// tracingEnabled reports whether spans are recorded.
func (a *App) tracingEnabled() bool { return a.cfg.Tracing.Enabled() }

// tracerProvider is the provider for the core and the verifier: a no-op one
// when tracing is off.
func tracerProvider(cfg Config) trace.TracerProvider { return cfg.Tracing.TracerProvider() }

// storeTracing is the store option that traces database calls; with
// tracing off it adds nothing (no span wrapper around the driver).
func storeTracing(cfg Config) store.Option {
	if !cfg.Tracing.Enabled() {
		return store.WithTracerProvider(nil)
	}
	return store.WithTracerProvider(cfg.Tracing.TracerProvider())
}

// grpcServerTracing is the stats handler that starts a server span per
// call, continuing the caller's traceparent. Health checks are left out:
// probes every few seconds would bury the traces worth reading.
func (a *App) grpcServerTracing() grpcapi.Option {
	if !a.tracingEnabled() {
		return grpcapi.WithServerOptions()
	}
	return grpcapi.WithServerOptions(grpc.StatsHandler(a.grpcServerStats()))
}

func (a *App) grpcServerStats() stats.Handler {
	t := a.cfg.Tracing
	return otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.TracerProvider()),
		otelgrpc.WithPropagators(t.TextMapPropagator()),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelgrpc.WithFilter(filters.Not(filters.HealthCheck())),
	)
}

// gatewayTracing traces the REST gateway's in-process calls as a client
// and a server connection would: a client span under the HTTP request's,
// whose trace context travels in the call's metadata, and a server span
// under it.
func (a *App) gatewayTracing() []grpcapi.DirectOption {
	if !a.tracingEnabled() {
		return nil
	}
	t := a.cfg.Tracing
	client := otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(t.TracerProvider()),
		otelgrpc.WithPropagators(t.TextMapPropagator()),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
	)
	return []grpcapi.DirectOption{grpcapi.WithDirectStats(client, a.grpcServerStats())}
}

// traceHTTP wraps the public HTTP handler with a server span per request,
// named after the matched route ("POST /oauth2/token"; the REST API's
// gRPC-gateway routes share "/v1/" and get their method from the gRPC span
// below). Probes and /metrics are not traced.
func (a *App) traceHTTP(h http.Handler) http.Handler {
	if !a.tracingEnabled() {
		return h
	}
	t := a.cfg.Tracing
	return otelhttp.NewHandler(h, "http",
		otelhttp.WithTracerProvider(t.TracerProvider()),
		otelhttp.WithPropagators(t.TextMapPropagator()),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(httpSpanName),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch r.URL.Path {
			case "/healthz", "/readyz", "/metrics":
				return false
			}
			return true
		}),
	)
}

// httpSpanName is "METHOD route". Before routing (the span's start) the
// route is unknown; otelhttp names the span again once the mux has set
// r.Pattern.
func httpSpanName(_ string, r *http.Request) string {
	if r.Pattern == "" {
		return r.Method
	}
	route := r.Pattern
	if _, path, ok := strings.Cut(route, " "); ok {
		route = path // "GET /healthz": the method is r.Method
	}
	return r.Method + " " + route
}
