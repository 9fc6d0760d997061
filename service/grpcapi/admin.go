package grpcapi

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

// AdminServer implements gatehouse.v1.AdminService on the core. The
// authorization gate (authz.go) lets only callers with role admin in.
type AdminServer struct {
	gatehousev1.UnimplementedAdminServiceServer
	core *core.Service
	log  *slog.Logger
}

// NewAdminServer returns the AdminService handlers.
func NewAdminServer(c *core.Service, log *slog.Logger) *AdminServer {
	return &AdminServer{core: c, log: log}
}

// account runs an admin call that returns one account.
func (s *AdminServer) account(ctx context.Context, fn func() (store.Account, error)) (*gatehousev1.Account, error) {
	a, err := fn()
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return accountToProto(a), nil
}

func (s *AdminServer) CreateUser(ctx context.Context, req *gatehousev1.CreateUserRequest) (*gatehousev1.Account, error) {
	return s.account(ctx, func() (store.Account, error) {
		return s.core.CreateUser(ctx, core.NewUser{
			Username:    req.GetUsername(),
			Email:       req.GetEmail(),
			DisplayName: req.GetDisplayName(),
			Password:    req.GetPassword(),
			Roles:       req.GetRoles(),
		})
	})
}

func (s *AdminServer) GetUser(ctx context.Context, req *gatehousev1.GetUserRequest) (*gatehousev1.Account, error) {
	return s.account(ctx, func() (store.Account, error) {
		return s.core.GetAccount(ctx, store.KindUser, req.GetId())
	})
}

func (s *AdminServer) ListUsers(ctx context.Context, req *gatehousev1.ListUsersRequest) (*gatehousev1.ListUsersResponse, error) {
	page, err := s.list(ctx, store.KindUser, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &gatehousev1.ListUsersResponse{Users: accountsToProto(page.Accounts), NextPageToken: page.Next}, nil
}

func (s *AdminServer) ListServiceClients(ctx context.Context, req *gatehousev1.ListServiceClientsRequest) (*gatehousev1.ListServiceClientsResponse, error) {
	page, err := s.list(ctx, store.KindService, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &gatehousev1.ListServiceClientsResponse{Clients: accountsToProto(page.Accounts), NextPageToken: page.Next}, nil
}

func (s *AdminServer) list(ctx context.Context, kind store.AccountKind, size int32, token string) (core.Page, error) {
	page, err := s.core.ListAccounts(ctx, kind, int(size), token)
	if err != nil {
		return core.Page{}, toStatus(ctx, s.log, err)
	}
	return page, nil
}

func (s *AdminServer) UpdateUser(ctx context.Context, req *gatehousev1.UpdateUserRequest) (*gatehousev1.Account, error) {
	return s.update(ctx, store.KindUser, req.GetId(), core.AccountUpdate{Email: req.Email, DisplayName: req.DisplayName})
}

func (s *AdminServer) DisableUser(ctx context.Context, req *gatehousev1.DisableUserRequest) (*gatehousev1.Account, error) {
	return s.update(ctx, store.KindUser, req.GetId(), core.AccountUpdate{Active: ptr(false)})
}

func (s *AdminServer) EnableUser(ctx context.Context, req *gatehousev1.EnableUserRequest) (*gatehousev1.Account, error) {
	return s.update(ctx, store.KindUser, req.GetId(), core.AccountUpdate{Active: ptr(true)})
}

func (s *AdminServer) SetPassword(ctx context.Context, req *gatehousev1.SetPasswordRequest) (*gatehousev1.SetPasswordResponse, error) {
	if _, err := s.update(ctx, store.KindUser, req.GetId(), core.AccountUpdate{Password: ptr(req.GetPassword())}); err != nil {
		return nil, err
	}
	return &gatehousev1.SetPasswordResponse{}, nil
}

func (s *AdminServer) DisableServiceClient(ctx context.Context, req *gatehousev1.DisableServiceClientRequest) (*gatehousev1.Account, error) {
	return s.update(ctx, store.KindService, req.GetId(), core.AccountUpdate{Active: ptr(false)})
}

func (s *AdminServer) SetRoles(ctx context.Context, req *gatehousev1.SetRolesRequest) (*gatehousev1.Account, error) {
	roles := req.GetRoles()
	if roles == nil {
		roles = []string{}
	}
	return s.update(ctx, "", req.GetId(), core.AccountUpdate{Roles: &roles})
}

func (s *AdminServer) SetServiceClientAudiences(ctx context.Context, req *gatehousev1.SetServiceClientAudiencesRequest) (*gatehousev1.Account, error) {
	audiences := req.GetAudiences()
	if audiences == nil {
		audiences = []string{}
	}
	return s.update(ctx, store.KindService, req.GetId(), core.AccountUpdate{Audiences: &audiences})
}

func (s *AdminServer) update(ctx context.Context, kind store.AccountKind, id string, u core.AccountUpdate) (*gatehousev1.Account, error) {
	return s.account(ctx, func() (store.Account, error) {
		return s.core.UpdateAccount(ctx, kind, id, u)
	})
}

func (s *AdminServer) DeleteUser(ctx context.Context, req *gatehousev1.DeleteUserRequest) (*gatehousev1.DeleteUserResponse, error) {
	if err := s.delete(ctx, store.KindUser, req.GetId()); err != nil {
		return nil, err
	}
	return &gatehousev1.DeleteUserResponse{}, nil
}

func (s *AdminServer) DeleteServiceClient(ctx context.Context, req *gatehousev1.DeleteServiceClientRequest) (*gatehousev1.DeleteServiceClientResponse, error) {
	if err := s.delete(ctx, store.KindService, req.GetId()); err != nil {
		return nil, err
	}
	return &gatehousev1.DeleteServiceClientResponse{}, nil
}

func (s *AdminServer) delete(ctx context.Context, kind store.AccountKind, id string) error {
	return toStatus(ctx, s.log, s.core.DeleteAccount(ctx, kind, id))
}

func (s *AdminServer) CreateServiceClient(ctx context.Context, req *gatehousev1.CreateServiceClientRequest) (*gatehousev1.CreateServiceClientResponse, error) {
	a, secret, err := s.core.CreateServiceClient(ctx, core.NewClient{
		ClientID:    req.GetClientId(),
		DisplayName: req.GetDisplayName(),
		Roles:       req.GetRoles(),
		Audiences:   req.GetAudiences(),
	})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.CreateServiceClientResponse{Client: accountToProto(a), ClientSecret: secret}, nil
}

func ptr[T any](v T) *T { return &v }

func (s *AdminServer) ListSessions(ctx context.Context, req *gatehousev1.ListSessionsRequest) (*gatehousev1.ListSessionsResponse, error) {
	list, err := s.core.ListSessions(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.ListSessionsResponse{Sessions: sessionsToProto(list)}, nil
}

func (s *AdminServer) RevokeSession(ctx context.Context, req *gatehousev1.RevokeSessionRequest) (*gatehousev1.RevokeSessionResponse, error) {
	if err := s.core.RevokeSession(ctx, req.GetId()); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.RevokeSessionResponse{}, nil
}

func (s *AdminServer) RevokeAllSessions(ctx context.Context, req *gatehousev1.RevokeAllSessionsRequest) (*gatehousev1.RevokeAllSessionsResponse, error) {
	n, err := s.core.RevokeAllSessions(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.RevokeAllSessionsResponse{Revoked: int32(n)}, nil
}

func (s *AdminServer) UnlockAccount(ctx context.Context, req *gatehousev1.UnlockAccountRequest) (*gatehousev1.UnlockAccountResponse, error) {
	n, err := s.core.UnlockAccount(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.UnlockAccountResponse{Cleared: int32(n)}, nil
}

func (s *AdminServer) ListSigningKeys(ctx context.Context, _ *gatehousev1.ListSigningKeysRequest) (*gatehousev1.ListSigningKeysResponse, error) {
	return s.keys(ctx, func() ([]store.SigningKey, error) { return s.core.SigningKeys(ctx) })
}

func (s *AdminServer) RotateSigningKey(ctx context.Context, req *gatehousev1.RotateSigningKeyRequest) (*gatehousev1.ListSigningKeysResponse, error) {
	return s.keys(ctx, func() ([]store.SigningKey, error) {
		return s.core.RotateSigningKey(ctx, req.GetImmediate())
	})
}

func (s *AdminServer) RevokeSigningKey(ctx context.Context, req *gatehousev1.RevokeSigningKeyRequest) (*gatehousev1.ListSigningKeysResponse, error) {
	return s.keys(ctx, func() ([]store.SigningKey, error) {
		return s.core.RevokeSigningKey(ctx, req.GetKid())
	})
}

func (s *AdminServer) keys(ctx context.Context, fn func() ([]store.SigningKey, error)) (*gatehousev1.ListSigningKeysResponse, error) {
	list, err := fn()
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.ListSigningKeysResponse{Keys: signingKeysToProto(list)}, nil
}

func (s *AdminServer) ListAuditEvents(ctx context.Context, req *gatehousev1.ListAuditEventsRequest) (*gatehousev1.ListAuditEventsResponse, error) {
	f := core.AuditFilter{Actor: req.GetActor(), Target: req.GetTarget(), Type: req.GetType()}
	for _, t := range []struct {
		name string
		ts   *timestamppb.Timestamp
		to   *time.Time
	}{{"since", req.GetSince(), &f.Since}, {"until", req.GetUntil(), &f.Until}} {
		if t.ts == nil {
			continue
		}
		if err := t.ts.CheckValid(); err != nil {
			return nil, toStatus(ctx, s.log, errs.Wrap(errs.InvalidArgument, err, "%s is not a valid timestamp", t.name))
		}
		*t.to = t.ts.AsTime()
	}
	page, err := s.core.ListAuditEvents(ctx, f, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.ListAuditEventsResponse{Events: auditEventsToProto(page.Events), NextPageToken: page.Next}, nil
}

func (s *AdminServer) PutClaimProfile(ctx context.Context, req *gatehousev1.PutClaimProfileRequest) (*gatehousev1.ClaimProfile, error) {
	p, err := s.core.PutClaimProfile(ctx, profileSpecFromProto(req))
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return claimProfileToProto(p), nil
}

func (s *AdminServer) GetClaimProfile(ctx context.Context, req *gatehousev1.GetClaimProfileRequest) (*gatehousev1.ClaimProfile, error) {
	p, err := s.core.ClaimProfile(ctx, req.GetAudience())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return claimProfileToProto(p), nil
}

func (s *AdminServer) ListClaimProfiles(ctx context.Context, _ *gatehousev1.ListClaimProfilesRequest) (*gatehousev1.ListClaimProfilesResponse, error) {
	list, err := s.core.ListClaimProfiles(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := make([]*gatehousev1.ClaimProfile, len(list))
	for i, p := range list {
		out[i] = claimProfileToProto(p)
	}
	return &gatehousev1.ListClaimProfilesResponse{Profiles: out}, nil
}

func (s *AdminServer) DeleteClaimProfile(ctx context.Context, req *gatehousev1.DeleteClaimProfileRequest) (*gatehousev1.DeleteClaimProfileResponse, error) {
	if err := s.core.DeleteClaimProfile(ctx, req.GetAudience()); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &gatehousev1.DeleteClaimProfileResponse{}, nil
}

func (s *AdminServer) GetClientOAuthSettings(ctx context.Context, req *gatehousev1.GetClientOAuthSettingsRequest) (*gatehousev1.ClientOAuthSettings, error) {
	c, err := s.core.GetClientOAuthSettings(ctx, req.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return oauthClientToProto(c), nil
}

func (s *AdminServer) SetClientOAuthSettings(ctx context.Context, req *gatehousev1.SetClientOAuthSettingsRequest) (*gatehousev1.ClientOAuthSettings, error) {
	c, err := s.core.SetClientOAuthSettings(ctx, req.GetId(), oauthSettingsFromProto(req.GetSettings()))
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return oauthClientToProto(c), nil
}
