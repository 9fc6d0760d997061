package audit

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// NewLogger returns the dedicated audit logger: JSON lines on w, each
// carrying log=audit so that a collector can route them.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil)).With("log", "audit")
}

// Sink returns a store.AuditSink that emits each committed event on log.
func Sink(log *slog.Logger) store.AuditSink {
	return func(ctx context.Context, events []store.AuditEvent) { Emit(ctx, log, events...) }
}

// Emit writes one line per event. Events carry no secrets by construction:
// detail values are names, ids, reasons and counts.
func Emit(ctx context.Context, log *slog.Logger, events ...store.AuditEvent) {
	for _, e := range events {
		attrs := []slog.Attr{
			slog.String("type", e.Type),
			slog.String("event_time", e.Time.UTC().Format(time.RFC3339Nano)),
			slog.String("actor", e.Actor),
		}
		if e.ID != 0 {
			attrs = append(attrs, slog.Int64("event_id", e.ID))
		}
		for _, a := range []struct{ k, v string }{
			{"actor_name", e.ActorName}, {"target", e.Target}, {"target_name", e.TargetName},
			{"ip", e.IP}, {"request_id", e.RequestID},
		} {
			if a.v != "" {
				attrs = append(attrs, slog.String(a.k, a.v))
			}
		}
		if len(e.Detail) > 0 {
			d := make([]any, 0, 2*len(e.Detail))
			for k, v := range e.Detail {
				d = append(d, k, v)
			}
			attrs = append(attrs, slog.Group("detail", d...))
		}
		log.LogAttrs(ctx, slog.LevelInfo, "audit event", attrs...)
	}
}
