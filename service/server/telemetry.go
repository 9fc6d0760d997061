package server

import (
	"net"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/grpcapi"
	"github.com/gatehouse/gatehouse/service/httpapi"
	"github.com/gatehouse/gatehouse/service/telemetry"
	"github.com/gatehouse/gatehouse/service/view"
	"github.com/gatehouse/gatehouse/store"
)

// domainMetrics is the core observer that counts tokens issued and
// validated, login failures, lockouts, exchanges and revocations.
func domainMetrics(reg prometheus.Registerer) core.Observer {
	return telemetry.NewObserver(reg)
}

// watchState registers the collectors read at scrape time: the view's lag,
// the key ring, the verify cache and the database pool.
func watchState(reg prometheus.Registerer, st *store.Store, v *view.View, c *core.Service, now func() time.Time) {
	reg.MustRegister(
		telemetry.NewStateCollector(telemetry.State{Now: now, LastSync: v.LastSync, Ring: v.Ring, VerifyCache: c.VerifyCacheStats}),
		collectors.NewDBStatsCollector(st.Pool(), st.Dialect()),
	)
	if r := st.ReaderPool(); r != nil {
		// The embedded SQLite's read-only connections (db_name="sqlite3-readers").
		reg.MustRegister(collectors.NewDBStatsCollector(r, st.Dialect()+"-readers"))
	}
}

// appTelemetry is the App's serving-time observability: the request
// metrics, created at the first Serve, and the operations listener (ops.go).
// Its zero value is ready to use.
type appTelemetry struct {
	once sync.Once
	grpc *grpcprom.ServerMetrics
	http *telemetry.HTTPMetrics

	mu     sync.Mutex
	opsLis net.Listener
}

// requestMetrics creates and registers, once per App, the RED metrics of
// every RPC of a gRPC client (grpc_server_*, with latency histograms) and
// of every HTTP route (gatehouse_http_*). A REST call is counted once, by
// route: its in-process gRPC hop is not instrumented.
func (a *App) requestMetrics() (*grpcprom.ServerMetrics, *telemetry.HTTPMetrics) {
	t := &a.tel
	t.once.Do(func() {
		t.grpc = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(telemetry.LatencyBuckets)))
		a.metrics.MustRegister(t.grpc)
		t.http = telemetry.NewHTTPMetrics(a.metrics)
	})
	return t.grpc, t.http
}

// requestMetricsOn reports whether requests are measured: only when the
// ops listener can serve the result.
func (a *App) requestMetricsOn() bool { return a.cfg.OpsAddr != "" }

// newGRPCServer builds the public gRPC server with the access log (which
// skips the gateway's in-process calls itself), tracing when it is on and,
// when requests are measured, the RPC metrics, every method's series
// created at zero. The REST gateway's connection (gatewayConn) has the
// same chain without the metrics.
func (a *App) newGRPCServer(hs *health.Server) (*grpc.Server, error) {
	opts := []grpcapi.Option{grpcapi.WithAccessLog(a.cfg.AccessLog), a.grpcServerTracing()}
	gm, _ := a.requestMetrics()
	measured := a.requestMetricsOn()
	if measured {
		opts = append(opts, grpcapi.WithInterceptors(gm.UnaryServerInterceptor(), gm.StreamServerInterceptor()))
	}
	gs, err := grpcapi.NewServer(a.core, hs, a.log, a.cfg.GRPC, opts...)
	if err != nil {
		return nil, err
	}
	if measured {
		gm.InitializeMetrics(gs)
	}
	return gs, nil
}

// httpOptions are the HTTP API's options with the route metrics and the
// access log.
func (a *App) httpOptions() httpapi.Options {
	_, hm := a.requestMetrics()
	o := a.cfg.HTTP
	o.AccessLog = a.cfg.AccessLog
	if a.requestMetricsOn() {
		o.RouteMetrics = hm
	}
	return o
}
