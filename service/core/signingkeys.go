package core

import (
	"context"
	"errors"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/keys"
	"github.com/gatehouse/gatehouse/store"
)

// SigningKeys lists the signing keys.
func (s *Service) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	keys, err := s.keys.List(ctx)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "could not list the signing keys")
	}
	return keys, nil
}

// RotateSigningKey starts a rotation.
func (s *Service) RotateSigningKey(ctx context.Context, immediate bool) ([]store.SigningKey, error) {
	// The store derives the key events; they name this caller.
	if err := s.keys.Rotate(store.WithAuditOrigin(ctx, auditOrigin(ctx)), immediate); err != nil {
		return nil, keyChangeError(err, "could not rotate the signing key")
	}
	s.syncView(ctx)
	return s.SigningKeys(ctx)
}

// RevokeSigningKey withdraws a key at once.
func (s *Service) RevokeSigningKey(ctx context.Context, kid string) ([]store.SigningKey, error) {
	if kid == "" {
		return nil, errs.New(errs.InvalidArgument, "kid is required")
	}
	if err := s.keys.Revoke(store.WithAuditOrigin(ctx, auditOrigin(ctx)), kid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errs.New(errs.NotFound, "no published signing key %q", truncate(kid))
		}
		return nil, keyChangeError(err, "could not revoke the signing key")
	}
	s.log.Warn("signing key revoked: its tokens are refused from now on", "kid", kid)
	s.syncView(ctx)
	return s.SigningKeys(ctx)
}

// keyChangeError maps a failed key change: on a database no `gatehouse serve`
// has set up yet there is nothing to change, which the caller should hear.
func keyChangeError(err error, msg string) error {
	if errors.Is(err, keys.ErrNoPolicy) {
		return errs.Wrap(errs.NotFound, err, "%s", keys.ErrNoPolicy.Error())
	}
	return errs.Wrap(errs.Internal, err, "%s", msg)
}
