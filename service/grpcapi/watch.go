package grpcapi

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
)

// WatchRevocations streams the revoked state to a service client (the gate
// authenticated it when the stream opened).
func (s *AuthServer) WatchRevocations(req *gatehousev1.WatchRevocationsRequest, stream gatehousev1.AuthService_WatchRevocationsServer) error {
	ctx := stream.Context()
	err := s.core.WatchRevocations(ctx, req.GetCursor(), func(ev core.RevocationEvent) error {
		return stream.Send(revocationToProto(ev))
	})
	if err != nil {
		return toStatus(ctx, s.log, err)
	}
	return nil
}

var revocationKinds = map[core.RevocationKind]gatehousev1.RevocationEvent_Kind{
	core.RevocationTokenRevoked:    gatehousev1.RevocationEvent_KIND_TOKEN_REVOKED,
	core.RevocationSessionRevoked:  gatehousev1.RevocationEvent_KIND_SESSION_REVOKED,
	core.RevocationSubjectRevoked:  gatehousev1.RevocationEvent_KIND_SUBJECT_REVOKED,
	core.RevocationAccountDisabled: gatehousev1.RevocationEvent_KIND_ACCOUNT_DISABLED,
	core.RevocationAccountEnabled:  gatehousev1.RevocationEvent_KIND_ACCOUNT_ENABLED,
	core.RevocationAccountDeleted:  gatehousev1.RevocationEvent_KIND_ACCOUNT_DELETED,
	core.RevocationKeyRevoked:      gatehousev1.RevocationEvent_KIND_KEY_REVOKED,
	core.RevocationHeartbeat:       gatehousev1.RevocationEvent_KIND_HEARTBEAT,
	core.RevocationSnapshotEnd:     gatehousev1.RevocationEvent_KIND_SNAPSHOT_END,
}

func revocationToProto(ev core.RevocationEvent) *gatehousev1.RevocationEvent {
	out := &gatehousev1.RevocationEvent{Kind: revocationKinds[ev.Kind], Id: ev.ID, Cursor: ev.Cursor, Reset_: ev.Reset}
	if !ev.Expires.IsZero() {
		out.ExpireTime = timestamppb.New(ev.Expires)
	}
	if !ev.RevokedBefore.IsZero() {
		out.RevokedBefore = timestamppb.New(ev.RevokedBefore)
	}
	return out
}
