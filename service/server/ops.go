package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Bounds of the operations listener: a scraper or an operator with a
// profiler, never the public.
const (
	opsMaxConnections = 32
	opsMaxScrapes     = 4
	opsScrapeTimeout  = 10 * time.Second
	// opsPprofWriteTimeout leaves room for /debug/pprof/profile's default
	// 30 s and a longer ?seconds=.
	opsPprofWriteTimeout = 2 * time.Minute
)

// listenOps binds the operations listener (Config.OpsAddr; "" is off)
// unless it is bound already.
func (a *App) listenOps() error {
	a.tel.mu.Lock()
	defer a.tel.mu.Unlock()
	if a.cfg.OpsAddr == "" || a.tel.opsLis != nil {
		return nil
	}
	l, err := net.Listen("tcp", a.cfg.OpsAddr)
	if err != nil {
		return fmt.Errorf("listen ops (metrics) on %s: %w", a.cfg.OpsAddr, err)
	}
	a.tel.opsLis = l
	return nil
}

// OpsAddr is the bound address of the operations listener, "" when it is
// off or not bound yet.
func (a *App) OpsAddr() string {
	a.tel.mu.Lock()
	defer a.tel.mu.Unlock()
	if a.tel.opsLis == nil {
		return ""
	}
	return a.tel.opsLis.Addr().String()
}

// opsHandler serves /metrics from the App's registry, and Go's profiles
// under /debug/pprof/ when Config.Pprof is set.
func (a *App) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(a.metrics, promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{
		ErrorLog:            promLogger{a},
		MaxRequestsInFlight: opsMaxScrapes,
		Timeout:             opsScrapeTimeout,
	})))
	if a.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// promLogger sends the metric handler's errors to the App's log.
type promLogger struct{ a *App }

func (l promLogger) Println(v ...any) {
	l.a.log.Error("serving /metrics failed", "err", fmt.Sprint(v...))
}

// opsServer is the running operations listener.
type opsServer struct {
	srv *http.Server
	lis *boundedListener
}

// serveOps starts the operations listener (binding it if Listen did not),
// plaintext HTTP/1.1 even when the public ports use TLS: it is meant for
// localhost or a private network, and warns otherwise. It returns nil when
// the listener is off.
func (a *App) serveOps(wg *sync.WaitGroup, errc chan<- error) (*opsServer, error) {
	if err := a.listenOps(); err != nil {
		return nil, err
	}
	a.tel.mu.Lock()
	l := a.tel.opsLis
	a.tel.mu.Unlock()
	if l == nil {
		return nil, nil
	}
	if !isLoopback(l.Addr()) {
		a.log.Warn("the ops listener is reachable from other hosts: /metrics (and /debug/pprof when enabled) have no authentication; keep it on a private network", "ops", l.Addr().String())
	}
	plain := a.cfg
	plain.TLS = TLSConfig{}
	srv := newHTTPServer(a.opsHandler(), plain, a.log)
	if a.cfg.Pprof {
		srv.WriteTimeout = opsPprofWriteTimeout
	}
	o := &opsServer{srv: srv, lis: newBoundedListener(l, opsMaxConnections)}
	wg.Go(func() {
		if err := srv.Serve(o.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("ops server: %w", err)
		}
	})
	return o, nil
}

// stop ends the operations listener; it runs after the public servers
// have drained, so that their last requests are still scraped meanwhile.
func (o *opsServer) stop() {
	if o == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), forceCloseWait)
	defer cancel()
	if err := o.srv.Shutdown(ctx); err != nil {
		o.srv.Close()
		o.lis.closeConns()
	}
}
