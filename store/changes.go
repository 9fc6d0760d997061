package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/change"
)

// Change is one change-log entry: something that may invalidate tokens or keys
// held in a replica's memory happened to Subject.
type Change struct {
	Seq       int64
	Kind      string
	Subject   string
	CreatedAt time.Time
}

// ChangeThrottle: a login-throttle counter was locked, or its lockout was
// lifted early. Subject is the counter key, or "" when the key is longer
// than a subject holds (readers then re-read every running lockout).
const ChangeThrottle = "throttle"

func (s *Store) appendChange(ctx context.Context, tx *ent.Tx, kind, subject string) error {
	if _, err := tx.Change.Create().
		SetKind(kind).
		SetSubject(subject).
		SetCreatedAt(s.clock()).
		Save(ctx); err != nil {
		return fmt.Errorf("append change log: %w", mapErr(err))
	}
	return nil
}

// ChangesAfter returns up to limit change-log entries with Seq > after, in
// sequence order.
func (s *Store) ChangesAfter(ctx context.Context, after int64, limit int) ([]Change, error) {
	es, err := s.client.Change.Query().
		Where(change.IDGT(int(after))).
		Order(ent.Asc(change.FieldID)).
		Limit(limit).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("read change log: %w", mapErr(err))
	}
	out := make([]Change, len(es))
	for i, e := range es {
		out[i] = Change{Seq: int64(e.ID), Kind: e.Kind, Subject: e.Subject, CreatedAt: e.CreatedAt.UTC()}
	}
	return out, nil
}

// LastChangeSeq returns the highest sequence number in the change log, or 0.
func (s *Store) LastChangeSeq(ctx context.Context) (int64, error) {
	e, err := s.client.Change.Query().Order(ent.Desc(change.FieldID)).First(ctx)
	if ent.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read change log: %w", mapErr(err))
	}
	return int64(e.ID), nil
}

// PruneChanges deletes entries older than before. Replicas that were down
// longer than that reload their whole view instead of tailing.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) (int, error) {
	n, err := s.client.Change.Delete().Where(change.CreatedAtLT(before)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("prune change log: %w", mapErr(err))
	}
	return n, nil
}
