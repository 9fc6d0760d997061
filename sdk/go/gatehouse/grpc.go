package gatehouse

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// MethodRules says what each gRPC method ("/pkg.Service/Method") requires.
// A method missing from Methods needs Default (a valid token, unless
// Default says more); methods in Public need no token at all.
type MethodRules struct {
	Methods map[string]Requirement
	Default Requirement
	Public  []string
}

func (m MethodRules) lookup(method string) (Requirement, bool) {
	for _, p := range m.Public {
		if p == method {
			return Requirement{}, false
		}
	}
	if r, ok := m.Methods[method]; ok {
		return r, true
	}
	return m.Default, true
}

// authenticate validates the call's bearer token and returns ctx with the
// Principal, or a gRPC status error.
func (v *Verifier) authenticate(ctx context.Context, method string, rules MethodRules) (context.Context, error) {
	req, protected := rules.lookup(method)
	if !protected {
		return ctx, nil
	}
	token := grpcBearer(ctx)
	if token == "" {
		return nil, status.Error(codes.Unauthenticated, "a bearer token is required")
	}
	p, err := v.Verify(ctx, token, req)
	if err != nil {
		return nil, asError(err).GRPCStatus().Err()
	}
	return NewContext(ctx, p), nil
}

// UnaryServerInterceptor refuses calls without a valid token meeting their
// method's rule (UNAUTHENTICATED, PERMISSION_DENIED) and puts the Principal
// in the handler's context.
func UnaryServerInterceptor(v *Verifier, rules MethodRules) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		ctx, err := v.authenticate(ctx, info.FullMethod, rules)
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streams; the token
// is checked once, when the stream opens.
func StreamServerInterceptor(v *Verifier, rules MethodRules) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
		ctx, err := v.authenticate(ss.Context(), info.FullMethod, rules)
		if err != nil {
			return err
		}
		return next(srv, &principalStream{ServerStream: ss, ctx: ctx})
	}
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }

// grpcBearer returns the token of `authorization: Bearer <token>`.
func grpcBearer(ctx context.Context) string {
	for _, v := range metadata.ValueFromIncomingContext(ctx, "authorization") {
		if token, ok := cutBearer(v); ok {
			return token
		}
	}
	return ""
}

// cutBearer parses an RFC 6750 §2.1 credential (scheme case-insensitive).
func cutBearer(v string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
