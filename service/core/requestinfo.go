package core

import "context"

// RequestInfo is what is known about the request being served, for access
// logs, audit events and traces. The outermost interceptor (or HTTP
// middleware) attaches it with an ID and the client IP; the authorization
// gate fills in the caller. It is a pointer in the context so that later
// steps can complete it and earlier ones (the access log) see the result.
type RequestInfo struct {
	// ID is the request id: the caller's X-Request-Id when it is sane, else
	// a random one; it is echoed in the response.
	ID string
	// IP is the client address after --trusted-proxies.
	IP string
	// Actor is the authenticated caller's account id ("" before
	// authentication or for anonymous calls); ActorName its username or
	// client id.
	Actor, ActorName string
}

type requestInfoKey struct{}

// WithRequestInfo attaches ri to ctx.
func WithRequestInfo(ctx context.Context, ri *RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RequestInfoFrom returns the request's info, or nil outside a request
// (background jobs, the CLI).
func RequestInfoFrom(ctx context.Context) *RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return ri
}
