package grpcapi

import (
	"cmp"
	"context"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

// Access says who may call an RPC.
type Access int

const (
	// accessUnknown is the zero value: an RPC missing from the table is
	// refused.
	accessUnknown Access = iota
	// Public RPCs need no credentials (a grant authenticates itself in the
	// request, the core checks it).
	Public
	// Authenticated RPCs need a valid bearer access token of any account.
	Authenticated
	// RoleRequired RPCs need a bearer access token whose account holds one
	// of Rule.Roles.
	RoleRequired
	// ServiceClientOnly RPCs need a service client: a service client's
	// bearer access token, or its client_id and client_secret in the
	// request (RFC 7662 §2.1).
	ServiceClientOnly
)

func (a Access) String() string {
	switch a {
	case Public:
		return "public"
	case Authenticated:
		return "authenticated"
	case RoleRequired:
		return "role"
	case ServiceClientOnly:
		return "service client"
	}
	return "unknown"
}

// Rule is what one RPC requires.
type Rule struct {
	Access Access
	// Roles are the roles of which the caller must hold one (RoleRequired).
	Roles []string
}

var (
	public        = Rule{Access: Public}
	admin         = Rule{Access: RoleRequired, Roles: []string{core.RoleAdmin}}
	userLookup    = Rule{Access: RoleRequired, Roles: []string{core.RoleAdmin, core.RoleUserLookup}}
	serviceClient = Rule{Access: ServiceClientOnly}
)

// rules is the one table of what every RPC of every service the gRPC server
// registers requires. An RPC missing here is refused (fail closed), and
// TestAuthzTableCoversEveryRPC fails.
func rules() map[string]Rule {
	auth := func(m string) string { return "/" + gatehousev1.AuthService_ServiceDesc.ServiceName + "/" + m }
	adm := func(m string) string { return "/" + gatehousev1.AdminService_ServiceDesc.ServiceName + "/" + m }
	t := map[string]Rule{
		// AuthService: grants and validation authenticate themselves.
		auth("IssueToken"):      public,
		auth("ValidateToken"):   public,
		auth("GetJWKS"):         public,
		auth("RevokeToken"):     public, // RFC 7009: the client authenticates in the request
		auth("LookupUser"):      userLookup,
		auth("IntrospectToken"): serviceClient,
		// Revocation push: what a resource server validating locally needs,
		// like ValidateToken's callers; checked once when the stream opens.
		auth("WatchRevocations"): serviceClient,

		// Health and reflection.
		"/grpc.health.v1.Health/Check":                                   public,
		"/grpc.health.v1.Health/List":                                    public,
		"/grpc.health.v1.Health/Watch":                                   public,
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      public,
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": public,
	}
	for _, m := range []string{
		"CreateUser", "GetUser", "ListUsers", "UpdateUser", "DisableUser", "EnableUser", "DeleteUser", "SetPassword",
		"CreateServiceClient", "ListServiceClients", "DisableServiceClient", "DeleteServiceClient", "SetServiceClientAudiences",
		"GetClientOAuthSettings", "SetClientOAuthSettings",
		"SetRoles", "UnlockAccount", "ListSessions", "RevokeSession", "RevokeAllSessions",
		"ListSigningKeys", "RotateSigningKey", "RevokeSigningKey",
		"CreateTrustedIssuer", "ListTrustedIssuers", "UpdateTrustedIssuer", "DeleteTrustedIssuer",
		"LinkIdentity", "UnlinkIdentity", "ListIdentityLinks",
		"ListAuditEvents",
		"PutClaimProfile", "GetClaimProfile", "ListClaimProfiles", "DeleteClaimProfile",
	} {
		t[adm(m)] = admin
	}
	return t
}

// RuleFor returns the rule of a full method name ("/pkg.Service/Method"),
// and false when the method is not in the table.
func RuleFor(fullMethod string) (Rule, bool) {
	r, ok := rules()[fullMethod]
	return r, ok && r.Access != accessUnknown
}

// callerKey is the context key of the authenticated caller.
type callerKey struct{}

// Caller is who the gate authenticated for a call.
type Caller struct {
	// Principal is the validated bearer token's principal; for a service
	// client that authenticated with credentials in the request, it names
	// that client.
	Principal core.Principal
	// Client is the service client account for ServiceClientOnly RPCs.
	Client store.Account
}

// CallerFrom returns the caller the gate put in ctx; false for public RPCs.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// clientCredentials is a request that may carry a client's credentials.
type clientCredentials interface {
	GetClientId() string
	GetClientSecret() string
}

// gate enforces the table: one place decides who may call what, for gRPC
// clients and for REST through the in-process gateway alike.
type gate struct {
	core  *core.Service
	log   *slog.Logger
	rules map[string]Rule
}

func newGate(c *core.Service, log *slog.Logger) *gate {
	return &gate{core: c, log: log, rules: rules()}
}

// authorize authenticates and authorizes one call; req is nil for streams.
func (g *gate) authorize(ctx context.Context, method string, req any) (context.Context, error) {
	r, ok := g.rules[method]
	if !ok || r.Access == accessUnknown {
		g.log.ErrorContext(ctx, "RPC missing from the authorization table; refused", "method", method)
		return nil, status.Error(codes.PermissionDenied, "this call is not open to anyone")
	}
	if r.Access == Public {
		return ctx, nil
	}
	if g.core == nil {
		return nil, status.Error(codes.Unavailable, "the service is not ready")
	}
	var who Caller
	switch r.Access {
	case ServiceClientOnly:
		if cc, ok := req.(clientCredentials); ok && (cc.GetClientId() != "" || cc.GetClientSecret() != "") {
			a, err := g.core.AuthenticateClient(ctx, cc.GetClientId(), cc.GetClientSecret(), clientIP(ctx, g.core))
			if err != nil {
				return nil, toStatus(ctx, g.log, err)
			}
			who = Caller{Principal: core.Principal{Subject: a.ID, Kind: a.Kind, ClientID: a.ClientID, Roles: a.Roles}, Client: a}
			break
		}
		p, err := g.core.Caller(ctx, bearerToken(ctx))
		if err != nil {
			return nil, toStatus(ctx, g.log, err)
		}
		a, err := g.core.ServiceClientOf(ctx, p)
		if err != nil {
			return nil, toStatus(ctx, g.log, err)
		}
		who = Caller{Principal: p, Client: a}
	case Authenticated, RoleRequired:
		p, err := g.core.Caller(ctx, bearerToken(ctx))
		if err != nil {
			return nil, toStatus(ctx, g.log, err)
		}
		if r.Access == RoleRequired && !holdsAny(p, r.Roles) {
			return nil, toStatus(ctx, g.log, errs.New(errs.PermissionDenied, "this call needs role %s", strings.Join(r.Roles, " or ")))
		}
		who = Caller{Principal: p}
	default:
		g.log.ErrorContext(ctx, "authorization rule of unknown kind; refused", "method", method, "access", r.Access)
		return nil, status.Error(codes.PermissionDenied, "this call is not open to anyone")
	}
	if ri := core.RequestInfoFrom(ctx); ri != nil {
		// For the access log and the audit trail.
		ri.Actor, ri.ActorName = who.Principal.Subject, cmp.Or(who.Principal.Username, who.Principal.ClientID)
	}
	return context.WithValue(ctx, callerKey{}, who), nil
}

func holdsAny(p core.Principal, roles []string) bool {
	for _, r := range roles {
		if p.HasRole(r) {
			return true
		}
	}
	return false
}

// unary is the gate for unary RPCs.
func (g *gate) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	ctx, err := g.authorize(ctx, info.FullMethod, req)
	if err != nil {
		return nil, err
	}
	return next(ctx, req)
}

// stream is the gate for streaming RPCs (health Watch, reflection).
func (g *gate) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	ctx, err := g.authorize(ss.Context(), info.FullMethod, nil)
	if err != nil {
		return err
	}
	return next(srv, &gatedStream{ServerStream: ss, ctx: ctx})
}

// gatedStream carries the caller in its context.
type gatedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *gatedStream) Context() context.Context { return s.ctx }
