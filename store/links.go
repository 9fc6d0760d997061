package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/federatedlink"
	"github.com/gatehouse/gatehouse/store/ent/predicate"
)

// ChangeLink is the change-log kind of federated-link changes (subject: the
// link's numeric id), so that every replica's view learns links without a
// database read on the validation path.
const ChangeLink = "link"

// How a federated link was made (FederatedLink.CreatedBy).
const (
	LinkByJIT             = "jit"
	LinkByVerifiedEmail   = "verified_email"
	LinkByUsername        = "username"
	LinkByUPN             = "upn"
	LinkByAdmin           = "admin"
	LinkByExchangeClients = "exchange_clients"
	LinkByMigration       = "migration"
)

// FederatedLink binds (trusted issuer, stable subject) to a local account.
type FederatedLink struct {
	ID        int64
	IssuerID  string
	Subject   string
	AccountID string
	CreatedBy string
	CreatedAt time.Time
}

// CreateFederatedLink stores a link; ErrConflict when the (issuer, subject)
// pair is linked already.
func (s *Store) CreateFederatedLink(ctx context.Context, l FederatedLink) (FederatedLink, error) {
	l.CreatedAt = s.clock()
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		e, err := tx.FederatedLink.Create().
			SetIssuerID(l.IssuerID).
			SetSubject(l.Subject).
			SetAccountID(l.AccountID).
			SetCreatedBy(l.CreatedBy).
			SetCreatedAt(l.CreatedAt).
			Save(ctx)
		if err != nil {
			return fmt.Errorf("insert federated link: %w", mapErr(err))
		}
		l.ID = int64(e.ID)
		return s.appendChange(ctx, tx, ChangeLink, strconv.FormatInt(l.ID, 10))
	})
	if err != nil {
		return FederatedLink{}, err
	}
	return l, nil
}

// FederatedLink returns the link of (issuerID, subject).
func (s *Store) FederatedLink(ctx context.Context, issuerID, subject string) (FederatedLink, error) {
	e, err := s.client.FederatedLink.Query().
		Where(federatedlink.IssuerID(issuerID), federatedlink.Subject(subject)).
		Only(ctx)
	if err != nil {
		return FederatedLink{}, fmt.Errorf("get federated link: %w", mapErr(err))
	}
	return toFederatedLink(e), nil
}

// FederatedLinkByID returns a link by its numeric id (the change-log subject).
func (s *Store) FederatedLinkByID(ctx context.Context, id int64) (FederatedLink, error) {
	e, err := s.client.FederatedLink.Get(ctx, int(id))
	if err != nil {
		return FederatedLink{}, fmt.Errorf("get federated link: %w", mapErr(err))
	}
	return toFederatedLink(e), nil
}

// FederatedLinks returns the links of one issuer (every link when issuerID
// is empty), ordered by id.
func (s *Store) FederatedLinks(ctx context.Context, issuerID string) ([]FederatedLink, error) {
	q := s.client.FederatedLink.Query().Order(ent.Asc(federatedlink.FieldID))
	if issuerID != "" {
		q = q.Where(federatedlink.IssuerID(issuerID))
	}
	es, err := q.All(ctx)
	if err != nil {
		return nil, fmt.Errorf("list federated links: %w", mapErr(err))
	}
	out := make([]FederatedLink, len(es))
	for i, e := range es {
		out[i] = toFederatedLink(e)
	}
	return out, nil
}

// DeleteFederatedLink removes the link of (issuerID, subject); ErrNotFound
// when there is none.
func (s *Store) DeleteFederatedLink(ctx context.Context, issuerID, subject string) error {
	return s.inTx(ctx, func(tx *ent.Tx) error {
		e, err := tx.FederatedLink.Query().
			Where(federatedlink.IssuerID(issuerID), federatedlink.Subject(subject)).
			Only(ctx)
		if err != nil {
			return fmt.Errorf("get federated link: %w", mapErr(err))
		}
		if err := tx.FederatedLink.DeleteOneID(e.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete federated link: %w", mapErr(err))
		}
		return s.appendChange(ctx, tx, ChangeLink, strconv.Itoa(e.ID))
	})
}

// deleteIssuerLinks removes every link of an issuer inside tx, logging each.
func (s *Store) deleteIssuerLinks(ctx context.Context, tx *ent.Tx, issuerID string) error {
	return s.deleteLinks(ctx, tx, federatedlink.IssuerID(issuerID))
}

// deleteLinks removes the links matching where inside tx, logging each in
// the change log so every replica's view drops them.
func (s *Store) deleteLinks(ctx context.Context, tx *ent.Tx, where predicate.FederatedLink) error {
	ids, err := tx.FederatedLink.Query().Where(where).IDs(ctx)
	if err != nil {
		return fmt.Errorf("list federated links: %w", mapErr(err))
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.FederatedLink.Delete().Where(federatedlink.IDIn(ids...)).Exec(ctx); err != nil {
		return fmt.Errorf("delete federated links: %w", mapErr(err))
	}
	for _, id := range ids {
		if err := s.appendChange(ctx, tx, ChangeLink, strconv.Itoa(id)); err != nil {
			return err
		}
	}
	return nil
}

func toFederatedLink(e *ent.FederatedLink) FederatedLink {
	return FederatedLink{
		ID:        int64(e.ID),
		IssuerID:  e.IssuerID,
		Subject:   e.Subject,
		AccountID: e.AccountID,
		CreatedBy: e.CreatedBy,
		CreatedAt: e.CreatedAt.UTC(),
	}
}
