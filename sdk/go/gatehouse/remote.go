package gatehouse

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// remoteCacheSize bounds the remembered remote answers.
const remoteCacheSize = 10000

// remote asks gatehouse's ValidateToken and remembers positive answers for
// a short while, so that a burst of requests with one token costs one call.
type remote struct {
	client   gatehousev1.AuthServiceClient
	audience string
	ttl      time.Duration
	now      func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]remoteEntry
}

type remoteEntry struct {
	p     Principal
	until time.Time
}

func (r *remote) validate(ctx context.Context, token string, req Requirement) (Principal, error) {
	key := sha256.Sum256([]byte(token + "\x00" + strings.Join(req.Roles, ",") + "\x00" + strings.Join(req.Scopes, ",")))
	now := r.now()
	r.mu.Lock()
	e, ok := r.cache[key]
	r.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.p, nil
	}
	res, err := r.client.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{
		Token: token, Audience: r.audience, RequiredRoles: req.Roles, RequiredScopes: req.Scopes,
	})
	if err != nil {
		st := status.Convert(err)
		switch st.Code() {
		case codes.Unauthenticated, codes.InvalidArgument:
			return Principal{}, invalid(st.Message(), err)
		case codes.PermissionDenied:
			return Principal{}, &Error{Code: CodePermissionDenied, Reason: st.Message(), cause: err}
		}
		return Principal{}, &Error{Code: CodeUnavailable, Reason: "gatehouse could not be asked", cause: err}
	}
	p := fromProto(res.GetPrincipal())
	until := now.Add(r.ttl)
	if p.ExpiresAt.Before(until) {
		until = p.ExpiresAt
	}
	r.mu.Lock()
	if len(r.cache) >= remoteCacheSize {
		for k, e := range r.cache {
			if !now.Before(e.until) || len(r.cache) >= remoteCacheSize {
				delete(r.cache, k)
			}
		}
	}
	r.cache[key] = remoteEntry{p: p, until: until}
	r.mu.Unlock()
	return p, nil
}

func fromProto(p *gatehousev1.Principal) Principal {
	return Principal{
		Subject: p.GetSubject(), AccountID: p.GetSubject(), Username: p.GetUsername(), ClientID: p.GetClientId(), Email: p.GetEmail(),
		Roles: p.GetRoles(), Scopes: p.GetScopes(), Audience: p.GetAudience(),
		IssuedAt: p.GetIssuedAt().AsTime(), ExpiresAt: p.GetExpiresAt().AsTime(),
		SessionID: p.GetSessionId(), TokenID: p.GetTokenId(),
	}
}
