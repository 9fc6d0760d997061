package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
)

// DefaultMaxConnections is the default cap on open connections per
// listener.
const DefaultMaxConnections = 1024

// forceCloseWait bounds how long, after the grace period, the servers and
// background tasks may take to notice that their connections were closed.
// Shutdown therefore takes at most ShutdownTimeout plus this.
const forceCloseWait = 500 * time.Millisecond

// boundedListener caps the open connections of a listener
// (netutil.LimitListener: once the cap is reached, Accept waits until a
// connection closes, and new clients wait in the kernel's accept queue) and
// keeps the accepted connections so that a shutdown can close them all,
// including those a server has not taken over yet: grpc-go's Stop waits for
// connections still in their handshake.
type boundedListener struct {
	net.Listener
	mu      sync.Mutex
	conns   map[*trackedConn]struct{}
	closing bool
}

func newBoundedListener(l net.Listener, maxConns int) *boundedListener {
	if maxConns <= 0 {
		maxConns = DefaultMaxConnections
	}
	return &boundedListener{Listener: netutil.LimitListener(l, maxConns), conns: make(map[*trackedConn]struct{})}
}

// Accept returns the next connection; after closeConns it closes new
// connections at once and keeps accepting until the listener is closed.
func (l *boundedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, l: l}
		l.mu.Lock()
		if !l.closing {
			l.conns[tc] = struct{}{}
			l.mu.Unlock()
			return tc, nil
		}
		l.mu.Unlock()
		c.Close()
	}
}

// closeConns closes every open connection, and every one accepted later.
func (l *boundedListener) closeConns() {
	l.mu.Lock()
	l.closing = true
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// open is the number of open connections.
func (l *boundedListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// trackedConn leaves its listener's set when closed.
type trackedConn struct {
	net.Conn
	l    *boundedListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return err
}

// newHTTPServer returns the HTTP server with its limits. Without TLS it
// serves HTTP/1.1 only (h2c is not enabled); with TLS it offers HTTP/2 too
// (ALPN h2, http/1.1), under the HTTP/2 limits below.
func newHTTPServer(h http.Handler, cfg Config, log *slog.Logger) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(cfg.TLS.Enabled())
	streams := cfg.GRPC.WithDefaults().MaxConcurrentStreams
	return &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:      streams,
			MaxDecoderHeaderTableSize: 4 << 10,
			MaxEncoderHeaderTableSize: 4 << 10,
			MaxReadFrameSize:          16 << 10,
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// stopServers stops both servers: calls in flight may finish and idle
// connections close during grace; when grace ends, every connection still
// open is closed, whatever its client does (silent, half-open, or in the
// middle of a request or handshake). It returns within grace plus
// forceCloseWait, and reports whether it had to force.
func stopServers(grace time.Duration, gs *grpc.Server, hsrv *http.Server, glis, hlis *boundedListener, log *slog.Logger) (forced bool) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		_ = hsrv.Shutdown(ctx)
	}()
	grpcDone := make(chan struct{})
	go func() {
		defer close(grpcDone)
		gs.GracefulStop()
	}()
	select {
	case <-ctx.Done():
	case <-waitAll(httpDone, grpcDone):
		return false
	}
	log.Warn("graceful stop did not finish within the shutdown timeout; closing the remaining connections",
		"timeout", grace, "grpc_connections", glis.open(), "http_connections", hlis.open())
	hsrv.Close()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		gs.Stop()
	}()
	glis.closeConns()
	hlis.closeConns()
	// GracefulStop may still wait for handlers that ignore their canceled
	// context; Stop does not.
	if !waitAtMost(waitAll(httpDone, stopped), forceCloseWait) {
		log.Warn("servers did not stop after their connections were closed; not waiting for them")
	}
	return true
}

// waitAll is closed once every channel in chs is closed.
func waitAll(chs ...<-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, c := range chs {
			<-c
		}
	}()
	return done
}

// waitAtMost waits for done for at most d and reports whether it came.
func waitAtMost(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
