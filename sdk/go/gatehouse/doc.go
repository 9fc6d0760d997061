// Package gatehouse is the Go SDK of gatehouse for services.
//
// A resource server validates gatehouse access tokens with a Verifier:
// locally from the JWKS (no call per request), and, when given a gRPC
// connection to gatehouse, with revocation push (WatchRevocations) so that
// revoked tokens, sessions, disabled or deleted accounts and withdrawn keys
// are refused within about a second. UnaryServerInterceptor,
// StreamServerInterceptor and Middleware put the caller's Principal in the
// request context (FromContext).
//
// A service client gets its own tokens with ClientCredentials (or an
// offline token with OfflineTokenSource) and attaches them to gRPC calls
// with PerRPCCredentials.
//
// The package depends on gatehouse's generated gRPC stubs only, never on
// the server, its storage or database drivers.
package gatehouse
