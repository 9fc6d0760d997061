package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/service/audit"
	"github.com/gatehouse/gatehouse/store"
)

// auditLogger is the JSON audit log: Config.AuditLog, else stderr when
// serving; a command-line run writes its events to the database only, so
// that they do not clutter the terminal.
func auditLogger(cfg Config) *slog.Logger {
	w := cfg.AuditLog
	if w == nil {
		w = io.Discard
		if cfg.Role == RoleServe {
			w = os.Stderr
		}
	}
	return audit.NewLogger(w)
}

// startAudit starts the writer that stores login events in batches.
func startAudit(cfg Config, st *store.Store, alog, log *slog.Logger, reg prometheus.Registerer) (*audit.Writer, error) {
	w, err := audit.NewWriter(st, alog, log, reg, audit.Options{Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	return w, nil
}

// stopAudit writes the queued login events, waiting at most the shutdown
// timeout.
func (a *App) stopAudit() {
	timeout := a.cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := a.audit.Close(ctx); err != nil {
		a.log.Warn("stopping the audit writer", "err", err)
	}
}

// PruneAudit deletes the audit events older than Config.AuditRetention now
// (housekeep does it hourly; every replica does, the delete is idempotent).
// A retention of 0 or less keeps every event.
func (a *App) PruneAudit(ctx context.Context) {
	if a.cfg.AuditRetention <= 0 {
		return
	}
	n, err := a.store.PruneAuditEvents(ctx, a.cfg.Now().Add(-a.cfg.AuditRetention))
	switch {
	case err != nil:
		a.log.Warn("pruning audit events failed", "err", err)
	case n > 0:
		a.log.Debug("pruned audit events", "rows", n, "retention", a.cfg.AuditRetention)
	}
}
