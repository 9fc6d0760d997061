package core

import (
	"context"
	"runtime"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gatehouse/gatehouse/service/errs"
)

// tracerName is the instrumentation scope of the core's spans.
const tracerName = "github.com/gatehouse/gatehouse/service/core"

// childSpan starts a span under the recording span in ctx. Without one
// (tracing off, an unsampled request, or work outside a request) it starts
// nothing and returns a no-op span, so the core never begins a trace of
// its own.
func childSpan(ctx context.Context, tr trace.Tracer, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, noop.Span{}
	}
	return tr.Start(ctx, name, trace.WithAttributes(attrs...))
}

// hashSlots bounds how many argon2id computations run at once. Each one
// takes ~19 MiB and tens of milliseconds of a core; unbounded, a burst of
// logins (or an attacker) could exhaust memory. Waiters queue until a slot is
// free or their request is cancelled.
type hashSlots struct {
	slots  chan struct{}
	tracer trace.Tracer
}

func newHashSlots(tr trace.Tracer) hashSlots {
	return hashSlots{slots: make(chan struct{}, 2*runtime.GOMAXPROCS(0)), tracer: tr}
}

// do runs fn in a slot, inside a password.hash span that includes the wait
// for the slot (marked by an event), so that a queue shows in the trace.
func (h hashSlots) do(ctx context.Context, fn func()) error {
	ctx, span := childSpan(ctx, h.tracer, "password.hash")
	defer span.End()
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		span.AddEvent("gave up waiting for a hashing slot")
		return errs.Wrap(errs.Unavailable, ctx.Err(), "the server is busy, try again")
	}
	defer func() { <-h.slots }()
	span.AddEvent("hashing slot acquired")
	fn()
	return nil
}
