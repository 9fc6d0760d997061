package server

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gatehouse/gatehouse/service/logx"
)

// healthServices are the gRPC health names gatehouse reports: the server as
// a whole and its two services. All of them need the database for some
// calls; ValidateToken keeps answering from memory while they say
// NOT_SERVING.
var healthServices = []string{"", "gatehouse.v1.AuthService", "gatehouse.v1.AdminService"}

// Readiness checks of the database.
const (
	healthInterval = 2 * time.Second
	healthTimeout  = time.Second
)

// startHealth reports every health service SERVING (Open has just reached
// the database), then follows the store's availability monitor: NOT_SERVING
// while the database does not answer, SERVING again once it does. /readyz
// reads the same monitor (Store.Ping answers from it), so the two agree.
func (a *App) startHealth(ctx context.Context, wg *sync.WaitGroup, hs *health.Server) {
	setHealth(hs, healthpb.HealthCheckResponse_SERVING)
	wg.Go(func() {
		down := false
		a.store.Monitor(ctx, healthInterval, healthTimeout, func(err error) {
			if err != nil {
				a.log.Error("database unavailable: reporting NOT_SERVING; token validation continues from memory", "err", err)
				setHealth(hs, healthpb.HealthCheckResponse_NOT_SERVING)
				down = true
				return
			}
			if down {
				a.log.Info("database answers again: reporting SERVING")
			}
			down = false
			setHealth(hs, healthpb.HealthCheckResponse_SERVING)
		})
	})
}

func setHealth(hs *health.Server, st healthpb.HealthCheckResponse_ServingStatus) {
	for _, name := range healthServices {
		hs.SetServingStatus(name, st)
	}
}

// limitLogs wraps the instance's logger so that a WARN or ERROR line
// repeated by many requests (a database outage fails every one of them) is
// written once, then at most once per interval with a "suppressed" count.
func limitLogs(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(*logx.LimitHandler); ok {
		return log
	}
	return slog.New(logx.NewLimitHandler(log.Handler(), logx.LimitOptions{}))
}
