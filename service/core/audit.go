package core

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/store"
)

// Administrative changes are audited in the transaction that makes them:
// the core attaches the events to the context of the one store call that
// writes the change (audited), and the store inserts them before commit.

// auditOrigin is who acts in ctx: the authenticated caller of the request,
// or "system" outside a request (CLI, background jobs) and for changes
// gatehouse makes on an anonymous caller's behalf (JIT provisioning). A
// caller without an account id may still name itself in ActorName (the CLI
// can attach a RequestInfo with the operating-system user).
func auditOrigin(ctx context.Context) store.AuditOrigin {
	ri := RequestInfoFrom(ctx)
	if ri == nil {
		return store.AuditOrigin{Actor: store.ActorSystem}
	}
	o := store.AuditOrigin{Actor: ri.Actor, ActorName: ri.ActorName, IP: ri.IP, RequestID: ri.ID}
	if o.Actor == "" {
		o.Actor = store.ActorSystem
	}
	return o
}

// audited returns ctx for the store call that makes a change: the next
// transaction under it writes events, with the request's origin.
func audited(ctx context.Context, events ...store.AuditEvent) context.Context {
	return store.WithAudit(store.WithAuditOrigin(ctx, auditOrigin(ctx)), events...)
}

// accountEvent is an event about account a: type "user.<what>" or
// "client.<what>" unless what already names its kind.
func accountEvent(a store.Account, what string, detail map[string]string) store.AuditEvent {
	typ := what
	if !strings.Contains(what, ".") {
		typ = store.AccountAuditType(a.Kind, what)
	}
	name := a.Username
	if a.Kind == store.KindService {
		name = a.ClientID
	}
	return store.AuditEvent{Type: typ, Target: a.ID, TargetName: name, Detail: detail}
}

// accountChangeEvents describes what an update changed; never a password
// hash or secret hash, only that it changed.
func accountChangeEvents(before, after store.Account) []store.AuditEvent {
	var out []store.AuditEvent
	var fields []string
	if before.Email != after.Email {
		fields = append(fields, "email")
	}
	if before.DisplayName != after.DisplayName {
		fields = append(fields, "display_name")
	}
	if len(fields) > 0 {
		out = append(out, accountEvent(after, store.AuditUpdated, map[string]string{"fields": strings.Join(fields, ",")}))
	}
	switch {
	case before.Active && !after.Active:
		out = append(out, accountEvent(after, store.AuditDisabled, nil))
	case !before.Active && after.Active:
		out = append(out, accountEvent(after, store.AuditEnabled, nil))
	}
	if before.PasswordHash != after.PasswordHash {
		out = append(out, accountEvent(after, store.AuditPasswordSet, nil))
	}
	if !bytes.Equal(before.SecretHash, after.SecretHash) {
		out = append(out, accountEvent(after, store.AuditSecretRotated, nil))
	}
	if b, a := sortedSet(before.Roles), sortedSet(after.Roles); !slices.Equal(b, a) {
		out = append(out, accountEvent(after, store.AuditRolesChanged, map[string]string{
			"roles": strings.Join(a, ","), "previous": strings.Join(b, ","),
		}))
	}
	if !slices.Equal(before.Audiences, after.Audiences) {
		out = append(out, accountEvent(after, store.AuditAudiencesSet, map[string]string{
			"audiences": strings.Join(after.Audiences, ","), "previous": strings.Join(before.Audiences, ","),
		}))
	}
	return out
}

func sortedSet(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return slices.Compact(out)
}

// cloneAccount copies a so that changes to the copy's slices leave it alone.
func cloneAccount(a store.Account) store.Account {
	a.Roles, a.Audiences, a.SecretHash = slices.Clone(a.Roles), slices.Clone(a.Audiences), slices.Clone(a.SecretHash)
	return a
}

func linkEvent(typ string, ti store.TrustedIssuer, subject string, a store.Account, by string) store.AuditEvent {
	e := accountEvent(a, typ, map[string]string{"issuer": ti.Issuer, "issuer_id": ti.ID, "subject": subject})
	if by != "" {
		e.Detail["by"] = by
	}
	return e
}

// AuditFilter selects audit events (zero fields: any).
type AuditFilter = store.AuditFilter

// AuditPage is one page of audit events, newest first.
type AuditPage struct {
	Events []store.AuditEvent
	Next   string // opaque; empty on the last page
}

// ListAuditEvents pages through the audit trail, newest first. size 0 means
// 50, at most 500; token is the Next of the previous page.
func (s *Service) ListAuditEvents(ctx context.Context, f AuditFilter, size int, token string) (AuditPage, error) {
	switch {
	case size < 0 || size > 500:
		return AuditPage{}, errs.New(errs.InvalidArgument, "page_size must be between 0 and 500")
	case size == 0:
		size = 50
	}
	for name, v := range map[string]string{"actor": f.Actor, "target": f.Target, "type": f.Type} {
		if len(v) > 512 || !utf8.ValidString(v) {
			return AuditPage{}, errs.New(errs.InvalidArgument, "%s must be valid UTF-8 of at most 512 bytes", name)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return AuditPage{}, errs.New(errs.InvalidArgument, "until must be after since")
	}
	var before int64
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err == nil {
			before, err = strconv.ParseInt(string(b), 10, 64)
		}
		if err != nil || before <= 0 {
			return AuditPage{}, errs.New(errs.InvalidArgument, "page_token is not one this server issued")
		}
	}
	list, err := s.store.ListAuditEvents(ctx, f, before, size+1)
	if err != nil {
		return AuditPage{}, errs.Wrap(errs.Internal, err, "could not list audit events")
	}
	p := AuditPage{Events: list}
	if len(list) > size {
		p.Events = list[:size]
		p.Next = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(list[size-1].ID, 10)))
	}
	return p, nil
}
