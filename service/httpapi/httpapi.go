// Package httpapi is gatehouse's HTTP face: the grpc-gateway mapping of the
// gRPC API under /v1/, and the standard endpoints (JWKS, the Airflow-style
// /auth/token, OpenAPI, health) that call the core directly.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/telemetry"
)

// MaxBodySize bounds request bodies.
const MaxBodySize = 256 << 10

// Options tune the HTTP API.
type Options struct {
	// JWKSMaxAge is the Cache-Control max-age of the JWKS (default 5 min).
	JWKSMaxAge time.Duration
	// AccessLog writes one info line per request (a REST call included:
	// its in-process gRPC hop does not log again).
	AccessLog bool
	// RouteMetrics, when set, counts and times every request by route
	// pattern. /metrics itself is served on the operations listener only.
	RouteMetrics *telemetry.HTTPMetrics
	// AllowedRedirectOrigins are the origins besides this server's own
	// paths that the login page's and logout's next may send a browser to
	// (--allowed-redirect-origins).
	AllowedRedirectOrigins OriginList
}

// Handler returns the HTTP handler of the whole HTTP port. The REST routes
// under /v1/ call the gRPC server through conn, an in-process connection
// (grpcapi.Direct), so that every REST call passes the same
// interceptor chain as a gRPC call: the authorization gate, logging,
// recovery. The RFC endpoints call the core directly.
func Handler(ctx context.Context, c *core.Service, conn grpc.ClientConnInterface, opts Options, log *slog.Logger) (http.Handler, error) {
	if opts.JWKSMaxAge <= 0 {
		opts.JWKSMaxAge = 5 * time.Minute
	}
	doc, err := newAPIDoc()
	if err != nil {
		return nil, err
	}
	gw := runtime.NewServeMux(
		// Strict decoding (strict.go): one JSON object, no unknown fields,
		// errors that name the field.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, strictJSONPb{&runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		runtime.WithErrorHandler(gatewayError(log)),
		// A known path with another method is 405 with Allow (the default
		// answers 501, which the error mapping turned into a 404).
		runtime.WithRoutingErrorHandler(routingError(doc)),
		// No POST-as-GET for form bodies: /v1/ takes JSON only.
		runtime.WithDisablePathLengthFallback(),
		// Forward only the Authorization header; the gateway already maps it
		// to the `authorization` metadata key, and appends the HTTP peer to
		// `x-forwarded-for` (which the gRPC side trusts only from the
		// in-process connection).
		runtime.WithIncomingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		// The request id goes to the gRPC side (audit, its logs); the
		// caller's X-Request-Id was checked by the outer layer.
		runtime.WithMetadata(func(ctx context.Context, _ *http.Request) metadata.MD {
			if ri := core.RequestInfoFrom(ctx); ri != nil {
				return metadata.Pairs(telemetry.RequestIDKey, ri.ID)
			}
			return nil
		}),
		runtime.WithForwardResponseOption(func(ctx context.Context, w http.ResponseWriter, msg proto.Message) error {
			noteGatewayCall(ctx)
			noStoreTokens(w, msg)
			return nil
		}),
	)
	// The gateway's query parser is process-wide; set it once.
	queryParserOnce.Do(func() { runtime.SetQueryParameterParser(&strictQueryParser{})(gw) })
	if conn == nil {
		return nil, errors.New("the REST gateway needs a connection to the gRPC server")
	}
	if err := gatehousev1.RegisterAuthServiceHandlerClient(ctx, gw, gatehousev1.NewAuthServiceClient(conn)); err != nil {
		return nil, fmt.Errorf("register AuthService gateway: %w", err)
	}
	if err := gatehousev1.RegisterAdminServiceHandlerClient(ctx, gw, gatehousev1.NewAdminServiceClient(conn)); err != nil {
		return nil, fmt.Errorf("register AdminService gateway: %w", err)
	}
	h := &handlers{core: c, opts: opts, log: log, doc: doc, web: newWebPages(opts.AllowedRedirectOrigins, log)}
	mux := http.NewServeMux()
	mux.Handle("/v1/", requireJSON(gw))
	for _, rt := range h.routes() {
		mux.HandleFunc(rt.pattern, rt.handler)
	}
	return telemetry.HTTPHandler(recoverHTTP(log, limitBody(recordRoute(mux))), telemetry.HTTPOptions{
		Log: log, AccessLog: opts.AccessLog, Metrics: opts.RouteMetrics, ClientIP: h.clientIP,
	}), nil
}

// recordRoute records the ServeMux pattern that served the request (after
// the gateway's more specific one, for /v1/), for metrics and the access log.
func recordRoute(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r) // sets r.Pattern ("" when nothing matched)
		if r.Pattern != "" {
			telemetry.SetRoute(r.Context(), strings.TrimSuffix(telemetry.RouteOf(r.Pattern), "{$}"))
		}
	})
}

// noteGatewayCall records the gateway route that served a REST call and
// the caller the in-process gate authenticated (sent back in the response
// metadata, which is never forwarded to the HTTP client).
func noteGatewayCall(ctx context.Context) {
	if p, ok := runtime.HTTPPathPattern(ctx); ok {
		telemetry.SetRoute(ctx, p)
	}
	if md, ok := runtime.ServerMetadataFromContext(ctx); ok {
		if v := md.HeaderMD.Get(telemetry.ActorKey); len(v) > 0 {
			if ri := core.RequestInfoFrom(ctx); ri != nil {
				ri.Actor = v[0]
			}
		}
	}
}

type handlers struct {
	core *core.Service
	opts Options
	log  *slog.Logger
	doc  *apiDoc
	web  *webPages // the login pages (login_page.go)
}

// route is one route of the ServeMux besides the /v1/ gateway.
type route struct {
	pattern string // "METHOD /path"
	handler http.HandlerFunc
}

// routes are the routes httpapi serves itself; openapi_routes.yaml
// describes each of them (TestOpenAPICoversEveryRoute).
func (h *handlers) routes() []route {
	return []route{
		{"GET /.well-known/jwks.json", h.jwks},
		{"GET /.well-known/openid-configuration", h.discovery},
		{"POST /auth/token", h.authToken},
		{"POST /oauth2/token", h.oauthToken},
		{"POST /oauth2/revoke", h.oauthRevoke},
		{"POST /oauth2/introspect", h.oauthIntrospect},
		// OpenID Connect (authorize.go, userinfo.go, oidclogout.go).
		{"GET /oauth2/authorize", h.authorize},
		{"GET /oauth2/userinfo", h.userinfo},
		{"POST /oauth2/userinfo", h.userinfo},
		{"GET /oauth2/logout", h.oidcLogout},
		{"POST /oauth2/logout", h.oidcLogout},
		{"GET /openapi.json", h.openAPI},
		{"GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}},
		{"GET /readyz", h.ready},
		// Browser sign-in (login.go).
		{"GET /auth/login", h.loginPage},
		{"POST /auth/login", h.loginSubmit},
		{"POST /auth/logout", h.logout},
		{"GET /auth/static/login.css", h.loginStylesheet},
		{"GET /{$}", h.home},
	}
}

// Routes returns the "METHOD /path" patterns of the routes served besides
// the gateway's /v1/ routes, for tests that compare them with the OpenAPI
// document.
func Routes() []string {
	var out []string
	for _, rt := range (&handlers{}).routes() {
		out = append(out, strings.TrimSuffix(rt.pattern, "{$}")) // "GET /{$}" is the path "/"
	}
	return out
}

// jwks serves the RFC 7517 key set from memory, with a strong ETag.
func (h *handlers) jwks(w http.ResponseWriter, r *http.Request) {
	body, etag := h.core.JWKS()
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(h.opts.JWKSMaxAge/time.Second)))
	w.Header().Set("ETag", etag)
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// etagMatches implements If-None-Match (RFC 9110 §13.1.2) for one strong tag.
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

func (h *handlers) openAPI(w http.ResponseWriter, r *http.Request) { h.doc.serve(w, r) }

func (h *handlers) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.core.Ready(ctx); err != nil {
		h.log.Warn("readiness check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// statusFor is the one mapping from core error kinds to HTTP statuses.
func statusFor(k errs.Kind) int {
	switch k {
	case errs.InvalidArgument:
		return http.StatusBadRequest
	case errs.Unauthenticated:
		return http.StatusUnauthorized
	case errs.PermissionDenied:
		return http.StatusForbidden
	case errs.NotFound:
		return http.StatusNotFound
	case errs.AlreadyExists:
		return http.StatusConflict
	case errs.ResourceExhausted:
		return http.StatusTooManyRequests
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// kindOfCode reads a gRPC code from the shared handlers back as a core kind,
// so that gateway answers go through statusFor too.
func kindOfCode(c codes.Code) errs.Kind {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition:
		return errs.InvalidArgument
	case codes.Unauthenticated:
		return errs.Unauthenticated
	case codes.PermissionDenied:
		return errs.PermissionDenied
	case codes.NotFound, codes.Unimplemented:
		return errs.NotFound
	case codes.AlreadyExists:
		return errs.AlreadyExists
	case codes.ResourceExhausted:
		return errs.ResourceExhausted
	case codes.Unavailable:
		return errs.Unavailable
	}
	return errs.Internal
}

// gatewayError writes gateway errors as {"code","message","details"} (the
// google.rpc.Status JSON form) with the status from statusFor, and the
// RFC 6750 challenge on 401.
func gatewayError(log *slog.Logger) runtime.ErrorHandlerFunc {
	return func(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
		noteGatewayCall(ctx)
		st := status.Convert(err)
		code := statusFor(kindOfCode(st.Code()))
		msg := st.Message()
		if code == http.StatusInternalServerError {
			log.ErrorContext(ctx, "gateway error", "path", r.URL.Path, "err", err)
			msg = "internal error"
		}
		if code == http.StatusUnauthorized {
			setChallenge(w, msg)
		}
		if returnsToken(ctx) {
			noStore(w)
		}
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				setRetryAfter(w, ri.GetRetryDelay().AsDuration())
			}
		}
		writeJSON(w, code, map[string]any{"code": int(st.Code()), "message": msg, "details": []any{}})
	}
}

// setRetryAfter sets Retry-After (RFC 9110 §10.2.3) in whole seconds.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
	}
}

// setChallenge sets the RFC 6750 §3 WWW-Authenticate header.
func setChallenge(w http.ResponseWriter, description string) {
	description = strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return '\''
		}
		return r
	}, description)
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="gatehouse", error="invalid_token", error_description="%s"`, description))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return // the client went away; nothing left to tell it
	}
}

// limitBody caps request bodies so that a huge body cannot exhaust memory.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodySize)
		next.ServeHTTP(w, r)
	})
}

// recoverHTTP turns a panic into a plain 500 and logs the stack.
func recoverHTTP(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(r.Context(), "panic in HTTP handler", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, map[string]any{"code": int(codes.Internal), "message": "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// routingError answers a gateway path that exists with another method as
// 405 with Allow (RFC 9110 §15.5.6), in the gateway's error form; other
// routing errors go the default way (404, 400) through gatewayError.
func routingError(doc *apiDoc) runtime.RoutingErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, status int) {
		if status != http.StatusMethodNotAllowed {
			runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, status)
			return
		}
		allow := doc.allowed(r)
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
		}
		writeJSON(w, status, map[string]any{
			"code":    int(codes.Unimplemented),
			"message": fmt.Sprintf("method %s is not allowed here; allowed: %s", r.Method, strings.Join(allow, ", ")),
			"details": []any{},
		})
	}
}
