package server_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/service/telemetry"
)

// BenchmarkValidateTokenGRPCTracing is one ValidateToken call over gRPC on
// loopback (the verify cache answers) with tracing off (the default: no-op
// provider, no instrumentation installed), on but sampling nothing, and on
// with every call sampled into an in-memory exporter.
func BenchmarkValidateTokenGRPCTracing(b *testing.B) {
	exp := tracetest.NewInMemoryExporter()
	for _, tc := range []struct {
		name    string
		tracing *telemetry.Tracing
	}{
		{"off", telemetry.Disabled()},
		{"on-never-sampled", telemetry.FromProvider(sdktrace.NewTracerProvider(
			sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.NeverSample())))},
		{"on-always-sampled", telemetry.FromProvider(sdktrace.NewTracerProvider(
			sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample())))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ts, secret := benchServer(b, func(c *server.Config) { c.Tracing = tc.tracing })
			res, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "bench", ClientSecret: secret})
			if err != nil {
				b.Fatal(err)
			}
			req := &gatehousev1.ValidateTokenRequest{Token: res.AccessToken}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if _, err := ts.auth.ValidateToken(context.Background(), req); err != nil {
					b.Fatal(err)
				}
				// Keep the exporter's memory bounded; amortised, this costs
				// next to nothing per call.
				if n++; n%4096 == 0 {
					exp.Reset()
				}
			}
		})
	}
}
