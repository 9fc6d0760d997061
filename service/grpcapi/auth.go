package grpcapi

import (
	"context"
	"log/slog"
	"net"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/encoding/protojson"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

// AuthServer implements gatehouse.v1.AuthService on the core.
type AuthServer struct {
	gatehousev1.UnimplementedAuthServiceServer
	core *core.Service
	log  *slog.Logger
}

// NewAuthServer returns the AuthService handlers.
func NewAuthServer(c *core.Service, log *slog.Logger) *AuthServer {
	return &AuthServer{core: c, log: log}
}

func (s *AuthServer) IssueToken(ctx context.Context, req *gatehousev1.IssueTokenRequest) (*gatehousev1.IssueTokenResponse, error) {
	res, err := s.core.IssueToken(ctx, core.TokenRequest{
		GrantType:        req.GetGrantType(),
		Username:         req.GetUsername(),
		Password:         req.GetPassword(),
		ClientID:         req.GetClientId(),
		ClientSecret:     req.GetClientSecret(),
		Scope:            req.GetScope(),
		RefreshToken:     req.GetRefreshToken(),
		SubjectToken:     req.GetSubjectToken(),
		SubjectTokenType: req.GetSubjectTokenType(),
		Audience:         req.GetAudience(),
		Resources:        req.GetResource(),
		ClientIP:         clientIP(ctx, s.core),
	})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.IssueTokenResponse{
		AccessToken:     res.AccessToken,
		TokenType:       res.TokenType,
		ExpiresIn:       res.ExpiresIn,
		Scope:           res.Scope,
		RefreshToken:    res.RefreshToken,
		IssuedTokenType: res.IssuedTokenType,
	}, nil
}

func (s *AuthServer) ValidateToken(ctx context.Context, req *gatehousev1.ValidateTokenRequest) (*gatehousev1.ValidateTokenResponse, error) {
	p, err := s.core.ValidateForResourceServer(ctx, req.GetToken(), core.ValidateOptions{
		Audience:       req.GetAudience(),
		RequiredRoles:  req.GetRequiredRoles(),
		RequiredScopes: req.GetRequiredScopes(),

		AllowOfflineToken: req.GetAllowOfflineToken(),
	})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.ValidateTokenResponse{Principal: principalToProto(p)}, nil
}

func (s *AuthServer) GetJWKS(ctx context.Context, _ *gatehousev1.GetJWKSRequest) (*gatehousev1.GetJWKSResponse, error) {
	// The message is read from the JWKS that jwx encoded, so gRPC, REST and
	// /.well-known/jwks.json carry the same members; one the message cannot
	// hold is an error, not a silent loss.
	body, _ := s.core.JWKS()
	out := new(gatehousev1.GetJWKSResponse)
	if err := protojson.Unmarshal(body, out); err != nil {
		return nil, toStatus(ctx, s.log, errs.Wrap(errs.Internal, err, "the key set cannot be encoded"))
	}
	return out, nil
}

func (s *AuthServer) LookupUser(ctx context.Context, req *gatehousev1.LookupUserRequest) (*gatehousev1.LookupUserResponse, error) {
	// The gate admitted only callers with role admin or user-lookup.
	var key store.AccountKey
	switch sel := req.GetSelector().(type) {
	case *gatehousev1.LookupUserRequest_Id:
		key.ID = sel.Id
	case *gatehousev1.LookupUserRequest_Username:
		key.Username = sel.Username
	case *gatehousev1.LookupUserRequest_Email:
		key.Email = sel.Email
	case *gatehousev1.LookupUserRequest_ClientId:
		key.ClientID = sel.ClientId
	}
	a, err := s.core.LookupAccount(ctx, key)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.LookupUserResponse{Account: accountToProto(a)}, nil
}

func (s *AuthServer) RevokeToken(ctx context.Context, req *gatehousev1.RevokeTokenRequest) (*gatehousev1.RevokeTokenResponse, error) {
	err := s.core.RevokeToken(ctx, core.RevokeRequest{
		Token:         req.GetToken(),
		TokenTypeHint: req.GetTokenTypeHint(),
		ClientID:      req.GetClientId(),
		ClientSecret:  req.GetClientSecret(),
		ClientIP:      clientIP(ctx, s.core),
	})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.RevokeTokenResponse{}, nil
}

func (s *AuthServer) IntrospectToken(ctx context.Context, req *gatehousev1.IntrospectTokenRequest) (*gatehousev1.IntrospectTokenResponse, error) {
	// The gate authenticated the service client, by the credentials in the
	// request or by its bearer token.
	who, ok := CallerFrom(ctx)
	if !ok {
		return nil, toStatus(ctx, s.log, errs.New(errs.Unauthenticated, "a service client must authenticate"))
	}
	in, err := s.core.Introspect(ctx, who.Client, req.GetToken())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.IntrospectTokenResponse{
		Active: in.Active, Scope: in.Scope, ClientId: in.ClientID, Username: in.Username, TokenType: in.TokenType,
		Exp: in.ExpiresAt, Iat: in.IssuedAt, Nbf: in.NotBefore, Sub: in.Subject, Aud: in.Audience, Iss: in.Issuer,
		Jti: in.JTI, Roles: in.Roles, SessionId: in.SessionID,
	}, nil
}

// clientIP is the caller's address. For a gRPC client it is the peer (or,
// when the peer is a trusted proxy, the nearest untrusted address of its
// x-forwarded-for). For REST through the in-process gateway it is the HTTP
// peer the gateway appended to x-forwarded-for, with the same proxy rule:
// that metadata is trusted only from the in-process connection, which no
// external client can open.
func clientIP(ctx context.Context, c *core.Service) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	// ValueFromIncomingContext reads one key without copying the whole
	// metadata (FromIncomingContext copies it: measurable on ValidateToken).
	forwarded := metadata.ValueFromIncomingContext(ctx, "x-forwarded-for")
	if !fromInProcess(ctx) {
		var host string
		if tcp, ok := p.Addr.(*net.TCPAddr); ok {
			host = tcp.AddrPort().Addr().Unmap().String()
		} else if h, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			host = h
		} else {
			host = p.Addr.String()
		}
		return c.ClientIP(host, forwarded)
	}
	if len(forwarded) == 0 {
		return ""
	}
	parts := strings.Split(forwarded[len(forwarded)-1], ",")
	last := strings.TrimSpace(parts[len(parts)-1])
	var rest []string
	if len(forwarded) > 1 {
		rest = append(rest, forwarded[:len(forwarded)-1]...)
	}
	if len(parts) > 1 {
		rest = append(rest, strings.Join(parts[:len(parts)-1], ","))
	}
	return c.ClientIP(last, rest)
}

// bearerToken returns the token of an `authorization: Bearer <token>`
// metadata entry (RFC 6750 §2.1; the scheme is case-insensitive), or "".
func bearerToken(ctx context.Context) string {
	for _, v := range metadata.ValueFromIncomingContext(ctx, "authorization") {
		scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
	}
	return ""
}
