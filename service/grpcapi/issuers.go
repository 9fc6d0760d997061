package grpcapi

import (
	"context"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

func (s *AdminServer) CreateTrustedIssuer(ctx context.Context, req *gatehousev1.CreateTrustedIssuerRequest) (*gatehousev1.TrustedIssuer, error) {
	return s.issuer(ctx, req.GetIssuer(), func(ti store.TrustedIssuer) (store.TrustedIssuer, error) {
		return s.core.CreateTrustedIssuer(ctx, ti)
	})
}

func (s *AdminServer) UpdateTrustedIssuer(ctx context.Context, req *gatehousev1.UpdateTrustedIssuerRequest) (*gatehousev1.TrustedIssuer, error) {
	return s.issuer(ctx, req.GetIssuer(), func(ti store.TrustedIssuer) (store.TrustedIssuer, error) {
		return s.core.UpdateTrustedIssuer(ctx, req.GetId(), ti)
	})
}

// issuer runs an admin call that takes and returns one trusted issuer.
func (s *AdminServer) issuer(ctx context.Context, in *gatehousev1.TrustedIssuer, fn func(store.TrustedIssuer) (store.TrustedIssuer, error)) (*gatehousev1.TrustedIssuer, error) {
	ti, err := trustedIssuerFromProto(in)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out, err := fn(ti)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return trustedIssuerToProto(out), nil
}

func (s *AdminServer) ListTrustedIssuers(ctx context.Context, _ *gatehousev1.ListTrustedIssuersRequest) (*gatehousev1.ListTrustedIssuersResponse, error) {
	list, err := s.core.ListTrustedIssuers(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := make([]*gatehousev1.TrustedIssuer, len(list))
	for i, ti := range list {
		out[i] = trustedIssuerToProto(ti)
	}
	return &gatehousev1.ListTrustedIssuersResponse{Issuers: out}, nil
}

func (s *AdminServer) DeleteTrustedIssuer(ctx context.Context, req *gatehousev1.DeleteTrustedIssuerRequest) (*gatehousev1.DeleteTrustedIssuerResponse, error) {
	if err := s.core.DeleteTrustedIssuer(ctx, req.GetId()); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.DeleteTrustedIssuerResponse{}, nil
}

// maxLeewaySeconds keeps leeway_seconds from overflowing time.Duration; any
// value above it is out of range and refused by the core.
const maxLeewaySeconds = 1 << 31

// trustedIssuerFromProto converts the settable fields; id and the timestamps
// belong to the server and are ignored.
func trustedIssuerFromProto(p *gatehousev1.TrustedIssuer) (store.TrustedIssuer, error) {
	leeway := min(p.GetLeewaySeconds(), maxLeewaySeconds)
	ti := store.TrustedIssuer{
		Issuer:          p.GetIssuer(),
		JWKSURI:         p.GetJwksUri(),
		Audiences:       p.GetAudiences(),
		AllowedAlgs:     p.GetAllowedAlgs(),
		Leeway:          time.Duration(max(leeway, -1)) * time.Second,
		RequiredClaims:  p.GetRequiredClaims(),
		IdentityClaims:  p.GetIdentityClaims(),
		GroupClaims:     p.GetGroupClaims(),
		JITProvisioning: p.GetJitProvisioning(),
		LinkBy:          p.GetLinkBy(),
		ExchangeClients: p.GetExchangeClients(),
	}
	if len(p.GetRoleMap()) > 0 {
		ti.RoleMap = make(map[string][]string, len(p.GetRoleMap()))
	}
	for _, m := range p.GetRoleMap() {
		if _, dup := ti.RoleMap[m.GetGroup()]; dup {
			return store.TrustedIssuer{}, errs.New(errs.InvalidArgument, "role_map: group %.64q is listed twice", m.GetGroup())
		}
		ti.RoleMap[m.GetGroup()] = m.GetRoles()
	}
	return ti, nil
}

// trustedIssuerToProto converts a stored issuer; role_map is sorted by group.
func trustedIssuerToProto(ti store.TrustedIssuer) *gatehousev1.TrustedIssuer {
	p := &gatehousev1.TrustedIssuer{
		Id:              ti.ID,
		Issuer:          ti.Issuer,
		JwksUri:         ti.JWKSURI,
		Audiences:       ti.Audiences,
		AllowedAlgs:     ti.AllowedAlgs,
		LeewaySeconds:   int64(ti.Leeway / time.Second),
		RequiredClaims:  ti.RequiredClaims,
		IdentityClaims:  ti.IdentityClaims,
		GroupClaims:     ti.GroupClaims,
		JitProvisioning: ti.JITProvisioning,
		LinkBy:          ti.LinkBy,
		ExchangeClients: ti.ExchangeClients,
		CreatedAt:       timestamppb.New(ti.CreatedAt),
		UpdatedAt:       timestamppb.New(ti.UpdatedAt),
	}
	for _, g := range slices.Sorted(maps.Keys(ti.RoleMap)) {
		p.RoleMap = append(p.RoleMap, &gatehousev1.RoleMapping{Group: g, Roles: ti.RoleMap[g]})
	}
	return p
}

func (s *AdminServer) LinkIdentity(ctx context.Context, req *gatehousev1.LinkIdentityRequest) (*gatehousev1.IdentityLink, error) {
	l, err := s.core.LinkIdentity(ctx, req.GetIssuer(), req.GetSubject(), req.GetAccount())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return identityLinkToProto(l, s.issuerName(ctx, l.IssuerID)), nil
}

func (s *AdminServer) UnlinkIdentity(ctx context.Context, req *gatehousev1.UnlinkIdentityRequest) (*gatehousev1.UnlinkIdentityResponse, error) {
	if err := s.core.UnlinkIdentity(ctx, req.GetIssuer(), req.GetSubject()); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.UnlinkIdentityResponse{}, nil
}

func (s *AdminServer) ListIdentityLinks(ctx context.Context, req *gatehousev1.ListIdentityLinksRequest) (*gatehousev1.ListIdentityLinksResponse, error) {
	list, err := s.core.ListIdentityLinks(ctx, req.GetIssuer())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := make([]*gatehousev1.IdentityLink, len(list))
	iss := ""
	if len(list) > 0 {
		iss = s.issuerName(ctx, list[0].IssuerID)
	}
	for i, l := range list {
		out[i] = identityLinkToProto(l, iss)
	}
	return &gatehousev1.ListIdentityLinksResponse{Links: out}, nil
}

// issuerName is the iss of a trusted issuer id, "" if it cannot be read.
func (s *AdminServer) issuerName(ctx context.Context, id string) string {
	if ti, err := s.core.FindTrustedIssuer(ctx, id); err == nil {
		return ti.Issuer
	}
	return ""
}

func identityLinkToProto(l store.FederatedLink, issuer string) *gatehousev1.IdentityLink {
	return &gatehousev1.IdentityLink{
		IssuerId:  l.IssuerID,
		Issuer:    issuer,
		Subject:   l.Subject,
		AccountId: l.AccountID,
		CreatedBy: l.CreatedBy,
		CreatedAt: timestamppb.New(l.CreatedAt),
	}
}
