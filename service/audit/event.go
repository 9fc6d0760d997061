package audit

import (
	"context"
	"maps"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/store"
)

// ActorAnonymous is the actor of events caused by an unauthenticated
// caller (a failed login, a revocation without client credentials).
const ActorAnonymous = "anonymous"

// fromCore turns a core event the trail keeps (see kept) into an audit
// event.
func fromCore(ctx context.Context, e core.Event) store.AuditEvent {
	out := store.AuditEvent{Type: string(e.Type), AuditOrigin: store.AuditOrigin{Actor: ActorAnonymous, IP: e.IP}}
	if ri := core.RequestInfoFrom(ctx); ri != nil {
		out.RequestID = ri.ID
		if out.IP == "" {
			out.IP = ri.IP
		}
	}
	detail := maps.Clone(e.Detail)
	if detail == nil {
		detail = map[string]string{}
	}
	set := func(k, v string) {
		if v != "" {
			detail[k] = v
		}
	}
	switch e.Type {
	case core.EventLoginSucceeded:
		out.Actor, out.ActorName = e.Subject, e.Name
		out.Target, out.TargetName = e.Subject, e.Name
	case core.EventLoginFailed:
		out.ActorName = e.Name
		out.Target, out.TargetName = e.Subject, e.Name
		set("reason", e.Reason)
	case core.EventLockout:
		out.Actor = store.ActorSystem
		out.Target, out.TargetName = e.Subject, e.Name
	case core.EventTokenExchanged:
		out.ActorName = e.ClientID
		out.Target = e.Subject
	case core.EventTokenRevoked:
		out.ActorName = e.ClientID
		out.Target = e.Detail["session"]
		if out.Target == "" {
			out.Target = e.Detail["jti"]
		}
		set("account", e.Subject)
	}
	set("kind", e.Kind)
	set("client_id", e.ClientID)
	set("grant", e.Grant)
	if len(detail) > 0 {
		out.Detail = detail
	}
	return out
}

// kept reports whether the trail keeps e, which fromCore can then build.
// It does not keep issued and validated tokens or successful client
// logins (client_credentials runs thousands of times a second; metrics
// count them).
func kept(e core.Event) bool {
	switch e.Type {
	case core.EventLoginSucceeded:
		return e.Kind == core.KindUser
	case core.EventLoginFailed, core.EventLockout, core.EventTokenExchanged, core.EventTokenRevoked:
		return true
	}
	return false
}
