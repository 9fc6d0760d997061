package store

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/auditevent"
	"github.com/gatehouse/gatehouse/store/ent/predicate"
)

// ActorSystem is the actor of changes gatehouse makes itself (the key
// schedule, start-up upgrades, the command line).
const ActorSystem = "system"

// Audit event types. Account events start with "user." or "client."
// by the account's kind.
const (
	AuditCreated       = "created"
	AuditUpdated       = "updated"
	AuditDisabled      = "disabled"
	AuditEnabled       = "enabled"
	AuditDeleted       = "deleted"
	AuditRolesChanged  = "roles_changed"
	AuditUnlocked      = "unlocked"
	AuditPasswordSet   = "user.password_set"
	AuditSecretRotated = "client.secret_rotated"
	AuditAudiencesSet  = "client.audiences_set"

	AuditSessionRevoked     = "session.revoked"
	AuditAllSessionsRevoked = "session.revoked_all"

	AuditIssuerAdded   = "issuer.added"
	AuditIssuerUpdated = "issuer.updated"
	AuditIssuerRemoved = "issuer.removed"
	AuditLinkCreated   = "federated_link.created"
	AuditLinkRemoved   = "federated_link.removed"

	AuditKeyCreated       = "key.created"
	AuditKeyActivated     = "key.activated"
	AuditKeyRetired       = "key.retired"
	AuditKeyRevoked       = "key.revoked"
	AuditKeyRemoved       = "key.removed"
	AuditKeyUpdated       = "key.updated"
	AuditKeyPolicyChanged = "key.policy_changed"
)

// AccountAuditType is the event type of an account change: "user." or
// "client." followed by what (AuditCreated, ...).
func AccountAuditType(k AccountKind, what string) string {
	if k == KindService {
		return "client." + what
	}
	return "user." + what
}

// AuditEvent is one entry of the audit trail. Detail holds small facts as
// strings and never a password, secret or token.
type AuditEvent struct {
	ID   int64
	Time time.Time
	Type string
	AuditOrigin
	// Target is what was affected (account id, client id, issuer id, kid or
	// session id); TargetName its human-readable name when there is one.
	Target, TargetName string
	Detail             map[string]string
}

// AuditOrigin is who caused an event and from where.
type AuditOrigin struct {
	// Actor is an account id, ActorSystem or "anonymous".
	Actor, ActorName string
	IP, RequestID    string
}

// AuditSink is told about audit events after they are committed.
type AuditSink func(ctx context.Context, events []AuditEvent)

// WithAuditSink has the store hand every audit event it commits to sink
// (the audit log), after the commit.
func WithAuditSink(sink AuditSink) Option { return func(s *Store) { s.auditSink = sink } }

type auditKey struct{}
type originKey struct{}

// auditBatch holds the events to write with the next transaction run under
// its context.
type auditBatch struct {
	mu     sync.Mutex
	events []AuditEvent
}

func (b *auditBatch) take() []AuditEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.events
	b.events = nil
	return out
}

// WithAudit returns a context whose next store transaction also writes
// events, committed or rolled back together with the change. Scope it to
// the one store call that makes the change: the first transaction run under
// it takes the events, and a failed one discards them.
func WithAudit(ctx context.Context, events ...AuditEvent) context.Context {
	return context.WithValue(ctx, auditKey{}, &auditBatch{events: events})
}

// AddAudit adds events to the batch of a context made by WithAudit, for
// events that only a store callback can know (what an update changed). It
// reports false when ctx carries no batch.
func AddAudit(ctx context.Context, events ...AuditEvent) bool {
	b, ok := ctx.Value(auditKey{}).(*auditBatch)
	if !ok {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, events...)
	return true
}

// WithAuditOrigin names who acts in ctx, for the events the store derives
// itself (signing key changes) and events that name no actor.
func WithAuditOrigin(ctx context.Context, o AuditOrigin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

func auditOrigin(ctx context.Context) AuditOrigin {
	o, _ := ctx.Value(originKey{}).(AuditOrigin)
	if o.Actor == "" {
		o.Actor = ActorSystem
	}
	return o
}

// ensureAudit returns ctx with an audit batch, its own or a new one.
func ensureAudit(ctx context.Context) context.Context {
	if _, ok := ctx.Value(auditKey{}).(*auditBatch); ok {
		return ctx
	}
	return WithAudit(ctx)
}

// hasPendingAudit reports whether ctx's batch holds events for the next
// transaction (pendingAudit would take some).
func hasPendingAudit(ctx context.Context) bool {
	b, ok := ctx.Value(auditKey{}).(*auditBatch)
	if !ok {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.events) > 0
}

// pendingAudit takes the events ctx's batch holds (nil when none).
func pendingAudit(ctx context.Context) []AuditEvent {
	if b, ok := ctx.Value(auditKey{}).(*auditBatch); ok {
		return b.take()
	}
	return nil
}

// Column bounds (see schema/auditevent.go); longer values are cut.
const (
	maxAuditDetail      = 32
	maxAuditDetailValue = 512
)

// auditCreate builds the insert of one event, filling in time and origin.
func (s *Store) auditCreate(ctx context.Context, c *ent.AuditEventClient, e *AuditEvent, now time.Time) *ent.AuditEventCreate {
	if e.Time.IsZero() {
		e.Time = now
	}
	o := auditOrigin(ctx)
	if e.Actor == "" {
		e.Actor, e.ActorName = o.Actor, o.ActorName
	}
	if e.IP == "" {
		e.IP = o.IP
	}
	if e.RequestID == "" {
		e.RequestID = o.RequestID
	}
	detail := make(map[string]string, len(e.Detail))
	for k, v := range e.Detail {
		if len(detail) == maxAuditDetail {
			break
		}
		detail[cut(k, 64)] = cut(v, maxAuditDetailValue)
	}
	e.Detail = detail
	return c.Create().
		SetTime(e.Time).
		SetType(cut(e.Type, 64)).
		SetActor(cut(e.Actor, 64)).
		SetActorName(cut(e.ActorName, 320)).
		SetTarget(cut(e.Target, 512)).
		SetTargetName(cut(e.TargetName, 512)).
		SetIP(cut(e.IP, 64)).
		SetRequestID(cut(e.RequestID, 128)).
		SetDetail(detail)
}

// writeAudit inserts events inside tx.
func (s *Store) writeAudit(ctx context.Context, tx *ent.Tx, events []AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	now := s.clock()
	bulk := make([]*ent.AuditEventCreate, len(events))
	for i := range events {
		bulk[i] = s.auditCreate(ctx, tx.AuditEvent, &events[i], now)
	}
	saved, err := tx.AuditEvent.CreateBulk(bulk...).Save(ctx)
	if err != nil {
		return fmt.Errorf("write audit events: %w", mapErr(err))
	}
	for i, e := range saved {
		events[i].ID = e.ID
	}
	return nil
}

// AppendAudit writes events in one transaction of their own (login events,
// which belong to no change), and hands them to the sink.
func (s *Store) AppendAudit(ctx context.Context, events ...AuditEvent) error {
	return s.inTx(WithAudit(ctx, events...), func(*ent.Tx) error { return nil })
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	Since, Until        time.Time // Since inclusive, Until exclusive
	Actor, Target, Type string
}

// ListAuditEvents returns up to limit events matching f, newest first, with
// ids below before (0: from the newest), for keyset pagination.
func (s *Store) ListAuditEvents(ctx context.Context, f AuditFilter, before int64, limit int) ([]AuditEvent, error) {
	var where []predicate.AuditEvent
	if !f.Since.IsZero() {
		where = append(where, auditevent.TimeGTE(f.Since.UTC()))
	}
	if !f.Until.IsZero() {
		where = append(where, auditevent.TimeLT(f.Until.UTC()))
	}
	if f.Actor != "" {
		where = append(where, auditevent.Actor(f.Actor))
	}
	if f.Target != "" {
		where = append(where, auditevent.Target(f.Target))
	}
	if f.Type != "" {
		where = append(where, auditevent.Type(f.Type))
	}
	if before > 0 {
		where = append(where, auditevent.IDLT(before))
	}
	es, err := s.client.AuditEvent.Query().
		Where(where...).
		Order(ent.Desc(auditevent.FieldID)).
		Limit(limit).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", mapErr(err))
	}
	out := make([]AuditEvent, len(es))
	for i, e := range es {
		out[i] = AuditEvent{
			ID: e.ID, Time: e.Time.UTC(), Type: e.Type,
			AuditOrigin: AuditOrigin{Actor: e.Actor, ActorName: e.ActorName, IP: e.IP, RequestID: e.RequestID},
			Target:      e.Target, TargetName: e.TargetName, Detail: e.Detail,
		}
	}
	return out, nil
}

// PruneAuditEvents deletes events older than before and returns how many.
func (s *Store) PruneAuditEvents(ctx context.Context, before time.Time) (int, error) {
	n, err := s.client.AuditEvent.Delete().Where(auditevent.TimeLT(before.UTC())).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune audit events: %w", mapErr(err))
	}
	return n, nil
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
