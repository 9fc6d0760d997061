package grpcapi

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/store"
)

func kindToProto(k store.AccountKind) gatehousev1.AccountKind {
	switch k {
	case store.KindUser:
		return gatehousev1.AccountKind_ACCOUNT_KIND_USER
	case store.KindService:
		return gatehousev1.AccountKind_ACCOUNT_KIND_SERVICE_CLIENT
	}
	return gatehousev1.AccountKind_ACCOUNT_KIND_UNSPECIFIED
}

func accountToProto(a store.Account) *gatehousev1.Account {
	return &gatehousev1.Account{
		Id:          a.ID,
		Kind:        kindToProto(a.Kind),
		Username:    a.Username,
		ClientId:    a.ClientID,
		Email:       a.Email,
		DisplayName: a.DisplayName,
		Roles:       a.Roles,
		Audiences:   a.Audiences,
		Active:      a.Active,
		CreatedAt:   timestamppb.New(a.CreatedAt),
		UpdatedAt:   timestamppb.New(a.UpdatedAt),
	}
}

func accountsToProto(list []store.Account) []*gatehousev1.Account {
	out := make([]*gatehousev1.Account, len(list))
	for i, a := range list {
		out[i] = accountToProto(a)
	}
	return out
}

func principalToProto(p core.Principal) *gatehousev1.Principal {
	return &gatehousev1.Principal{
		Subject:   p.Subject,
		Kind:      kindToProto(p.Kind),
		Username:  p.Username,
		ClientId:  p.ClientID,
		Email:     p.Email,
		Roles:     p.Roles,
		Scopes:    p.Scopes,
		Issuer:    p.Issuer,
		Audience:  p.Audience,
		IssuedAt:  timestamppb.New(p.IssuedAt),
		ExpiresAt: timestamppb.New(p.ExpiresAt),
		TokenId:   p.TokenID,
		SessionId: p.SessionID,

		IdentitySource: p.IdentitySource,
	}
}

func sessionsToProto(list []core.Session) []*gatehousev1.Session {
	out := make([]*gatehousev1.Session, len(list))
	for i, s := range list {
		out[i] = &gatehousev1.Session{
			Id:         s.ID,
			AccountId:  s.AccountID,
			ClientId:   s.ClientID,
			Scope:      s.Scope,
			Offline:    s.Offline,
			CreatedAt:  timestamppb.New(s.CreatedAt),
			LastUsedAt: timestamppb.New(s.LastUsedAt),
		}
		if !s.ExpiresAt.IsZero() {
			out[i].ExpiresAt = timestamppb.New(s.ExpiresAt)
		}
	}
	return out
}

func signingKeysToProto(list []store.SigningKey) []*gatehousev1.SigningKey {
	out := make([]*gatehousev1.SigningKey, len(list))
	for i, k := range list {
		out[i] = &gatehousev1.SigningKey{Kid: k.KID, Alg: k.Alg, State: string(k.State), CreatedAt: timestamppb.New(k.CreatedAt)}
		if !k.ActivatedAt.IsZero() {
			out[i].ActivatedAt = timestamppb.New(k.ActivatedAt)
		}
		if !k.RetiredAt.IsZero() {
			out[i].RetiredAt = timestamppb.New(k.RetiredAt)
		}
		var j gatehousev1.JSONWebKey
		if err := protojson.Unmarshal(k.PublicJWK, &j); err == nil {
			out[i].PublicKey = &j
		}
	}
	return out
}

func auditEventsToProto(list []store.AuditEvent) []*gatehousev1.AuditEvent {
	out := make([]*gatehousev1.AuditEvent, len(list))
	for i, e := range list {
		out[i] = &gatehousev1.AuditEvent{
			Id:         e.ID,
			Time:       timestamppb.New(e.Time),
			Type:       e.Type,
			Actor:      e.Actor,
			ActorName:  e.ActorName,
			Target:     e.Target,
			TargetName: e.TargetName,
			Ip:         e.IP,
			RequestId:  e.RequestID,
			Detail:     e.Detail,
		}
	}
	return out
}

func profileSpecFromProto(req *gatehousev1.PutClaimProfileRequest) core.ProfileSpec {
	spec := core.ProfileSpec{
		Audience:     req.GetAudience(),
		Builtin:      req.GetBuiltin(),
		Subject:      req.GetSubject(),
		RoleOrder:    req.GetRoleOrder(),
		VisibleRoles: req.GetVisibleRoles(),
	}
	for _, c := range req.GetClaims() {
		spec.Claims = append(spec.Claims, store.ProfileClaim{
			Name: c.GetName(), Source: c.GetSource(), Value: c.GetValue(), RoleOrder: c.GetRoleOrder(),
		})
	}
	return spec
}

func claimProfileToProto(p store.ClaimProfile) *gatehousev1.ClaimProfile {
	out := &gatehousev1.ClaimProfile{
		Audience:     p.Audience,
		Subject:      p.Subject,
		VisibleRoles: p.VisibleRoles,
		Builtin:      p.Builtin,
		CreatedAt:    timestamppb.New(p.CreatedAt),
		UpdatedAt:    timestamppb.New(p.UpdatedAt),
	}
	for _, c := range p.Claims {
		out.Claims = append(out.Claims, &gatehousev1.ProfileClaim{
			Name: c.Name, Source: c.Source, Value: c.Value, RoleOrder: c.RoleOrder,
		})
	}
	return out
}

func oauthClientToProto(c store.OAuthClient) *gatehousev1.ClientOAuthSettings {
	return &gatehousev1.ClientOAuthSettings{
		Id: c.AccountID, ClientId: c.ClientID,
		RedirectUris: nonNil(c.RedirectURIs), PostLogoutRedirectUris: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Public: c.Public, FirstParty: c.FirstParty,
		IdTokenSignedResponseAlg: c.IDTokenAlg, HasSecret: c.HasSecret,
	}
}

func oauthSettingsFromProto(p *gatehousev1.ClientOAuthSettings) store.OAuthClientSettings {
	return store.OAuthClientSettings{
		RedirectURIs: p.GetRedirectUris(), PostLogoutRedirectURIs: p.GetPostLogoutRedirectUris(),
		GrantTypes: p.GetGrantTypes(), Public: p.GetPublic(), FirstParty: p.GetFirstParty(),
		IDTokenAlg: p.GetIdTokenSignedResponseAlg(),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
