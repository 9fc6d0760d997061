package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse/service/core"
)

// HTTPMetrics are the RED metrics of the HTTP port, labelled by route
// pattern (never the raw path, so that the series stay bounded).
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTPMetrics creates and registers with reg:
//
//	gatehouse_http_requests_total{code,method,route}
//	gatehouse_http_request_duration_seconds{method,route}
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total",
			Help: "HTTP requests answered, by status code, method and route pattern.",
		}, []string{"code", "method", "route"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route pattern.",
			Buckets: LatencyBuckets,
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// LatencyBuckets are the latency histogram buckets (seconds) of the HTTP
// routes and the RPCs: validation answers in well under a millisecond,
// grants spend tens of milliseconds hashing.
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// HTTPOptions configure HTTPHandler.
type HTTPOptions struct {
	Log *slog.Logger
	// AccessLog writes one info line per request.
	AccessLog bool
	// Metrics, when set, counts and times every request by route.
	Metrics *HTTPMetrics
	// ClientIP is the caller's address after the trusted proxies
	// (core.Service.ClientIP); nil leaves it empty.
	ClientIP func(*http.Request) string
}

// UnmatchedRoute is the route label of a request no route matched.
const UnmatchedRoute = "unmatched"

// route is the route pattern of a request, filled in by the innermost
// layer that knows it and read by the outer ones after the handler.
type route struct{ pattern string }

type routeKey struct{}

// SetRoute records the route pattern ("/v1/admin/users/{id}") of the
// request being served, unless a more specific layer recorded one first.
// The method is not part of it: it has a label of its own.
func SetRoute(ctx context.Context, pattern string) {
	if rt, ok := ctx.Value(routeKey{}).(*route); ok && rt.pattern == "" {
		rt.pattern = pattern
	}
}

// RouteOf returns a net/http ServeMux pattern without its method and host
// ("POST /oauth2/token" → "/oauth2/token").
func RouteOf(muxPattern string) string {
	if _, p, ok := strings.Cut(muxPattern, " "); ok {
		muxPattern = strings.TrimSpace(p)
	}
	if i := strings.IndexByte(muxPattern, '/'); i > 0 {
		muxPattern = muxPattern[i:]
	}
	return muxPattern
}

func routeFrom(ctx context.Context) string {
	if rt, ok := ctx.Value(routeKey{}).(*route); ok && rt.pattern != "" {
		return rt.pattern
	}
	return UnmatchedRoute
}

// HTTPHandler is the outermost layer of the HTTP port. It gives every
// request a request id (a sane incoming X-Request-Id, else a random one,
// echoed in the response) and a core.RequestInfo with the client IP,
// counts and times it by route, and writes its access-log line. The line
// never holds the query string, a header value or a body: those carry
// tokens, secrets and passwords.
func HTTPHandler(next http.Handler, o HTTPOptions) http.Handler {
	inner := next
	if o.Metrics != nil {
		byRoute := promhttp.WithLabelFromCtx("route", routeFrom)
		inner = promhttp.InstrumentHandlerDuration(o.Metrics.duration, inner, byRoute)
		inner = promhttp.InstrumentHandlerCounter(o.Metrics.requests, inner, byRoute)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &core.RequestInfo{ID: RequestID(r.Header.Get(RequestIDHeader))}
		if o.ClientIP != nil {
			ri.IP = o.ClientIP(r)
		}
		w.Header().Set(RequestIDHeader, ri.ID)
		rt := &route{}
		outer := r
		r = r.WithContext(context.WithValue(core.WithRequestInfo(r.Context(), ri), routeKey{}, rt))
		// The ServeMux sets Pattern on the request it is given; hand it
		// back to the layers outside (tracing names its span from it).
		defer func() { outer.Pattern = r.Pattern }()
		if !o.AccessLog || o.Log == nil {
			inner.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		inner.ServeHTTP(sw, r)
		attrs := []slog.Attr{
			slog.String("protocol", "http"),
			slog.String("http.method", r.Method),
			slog.String("http.route", routeFrom(r.Context())),
			slog.Int("http.status", sw.status()),
			slog.Float64("duration_ms", DurationMillis(time.Since(start))),
			slog.String("request_id", ri.ID),
			slog.String("ip", ri.IP),
		}
		if ri.Actor != "" {
			attrs = append(attrs, slog.String("subject", ri.Actor))
		}
		o.Log.LogAttrs(r.Context(), slog.LevelInfo, AccessLogMessage, attrs...)
	})
}

// AccessLogMessage is the message of every access-log line, gRPC and HTTP.
const AccessLogMessage = "request"

// DurationMillis is the duration_ms field of the access log: d in
// milliseconds with microsecond precision.
func DurationMillis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// statusWriter remembers the status code of the response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes http.Flusher through.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.code == 0 {
			w.code = http.StatusOK
		}
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
