package core

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/view"
)

// RevocationKind says what a RevocationEvent is about.
type RevocationKind int

const (
	RevocationTokenRevoked    = RevocationKind(view.EventTokenRevoked)
	RevocationSessionRevoked  = RevocationKind(view.EventSessionRevoked)
	RevocationSubjectRevoked  = RevocationKind(view.EventSubjectRevoked)
	RevocationAccountDisabled = RevocationKind(view.EventAccountDisabled)
	RevocationAccountEnabled  = RevocationKind(view.EventAccountEnabled)
	RevocationAccountDeleted  = RevocationKind(view.EventAccountDeleted)
	RevocationKeyRevoked      = RevocationKind(view.EventKeyRevoked)
	RevocationHeartbeat       = RevocationKind(100)
	RevocationSnapshotEnd     = RevocationKind(101)
)

// RevocationEvent is one event of WatchRevocations.
type RevocationEvent struct {
	Kind RevocationKind
	ID   string
	// Expires bounds how long the entry matters: no token it covers lives
	// longer (zero: as long as the client runs).
	Expires time.Time
	// RevokedBefore is the subject cut-off: tokens issued at or before it.
	RevokedBefore time.Time
	// Cursor resumes after this event; empty inside a snapshot.
	Cursor string
	// Reset starts a snapshot: the receiver drops all state it held.
	Reset bool
}

const cursorPrefix = "gh1:"

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return 0, errs.New(errs.InvalidArgument, "cursor is not one this service issued")
	}
	seq, err := strconv.ParseInt(strings.TrimPrefix(string(b), cursorPrefix), 10, 64)
	if err != nil || seq < 0 {
		return 0, errs.New(errs.InvalidArgument, "cursor is not one this service issued")
	}
	return seq, nil
}

// WatchRevocations sends the revoked state to send: a snapshot when cursor
// is empty or can no longer be resumed from, then every change this
// replica's view applies, and heartbeats while idle. It returns when ctx
// ends, send fails, or the view stops (shutdown: Unavailable, resume from
// the last cursor on another replica).
func (s *Service) WatchRevocations(ctx context.Context, cursor string, send func(RevocationEvent) error) error {
	var from int64
	resume := cursor != ""
	if resume {
		seq, err := decodeCursor(cursor)
		if err != nil {
			return err
		}
		from = seq
	}
	sub, snap, _, err := s.view.Watch(from, resume)
	if err != nil {
		return watchError(err)
	}
	defer sub.Close()
	if snap != nil {
		if err := s.sendSnapshot(snap, send); err != nil {
			return err
		}
	}
	heartbeat := s.view.WatchHeartbeat()
	for {
		batch, err := sub.Next(ctx, heartbeat)
		if errors.Is(err, view.ErrLagged) {
			if err := s.sendSnapshot(s.view.Resnapshot(sub), send); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return watchError(err)
		}
		if len(batch) == 0 {
			if err := send(RevocationEvent{Kind: RevocationHeartbeat, Cursor: encodeCursor(sub.Cursor())}); err != nil {
				return err
			}
			continue
		}
		for _, d := range batch {
			ev := s.revocationEvent(d.Event)
			ev.Cursor = encodeCursor(d.Cursor)
			if err := send(ev); err != nil {
				return err
			}
		}
	}
}

// sendSnapshot sends the entries of snap that can still matter, the first
// flagged Reset, then the snapshot's end with its cursor.
func (s *Service) sendSnapshot(snap *view.Snapshot, send func(RevocationEvent) error) error {
	now := s.now()
	first := true
	for _, e := range snap.Events {
		ev := s.revocationEvent(e)
		if !ev.Expires.IsZero() && ev.Expires.Before(now) {
			continue // every token it covers has expired
		}
		ev.Reset, first = first, false
		if err := send(ev); err != nil {
			return err
		}
	}
	return send(RevocationEvent{Kind: RevocationSnapshotEnd, Cursor: encodeCursor(snap.Cursor), Reset: first})
}

// revocationEvent adds the expiry bound: a token alive at a revocation was
// issued before it, so it expires within one access-token lifetime (plus
// the tolerated skew) of it.
func (s *Service) revocationEvent(e view.Event) RevocationEvent {
	ev := RevocationEvent{Kind: RevocationKind(e.Kind), ID: e.ID}
	if e.Kind != view.EventAccountDisabled && e.Kind != view.EventAccountEnabled && !e.At.IsZero() {
		ev.Expires = e.At.Add(s.cfg.AccessTokenTTL + s.cfg.Leeway)
	}
	if e.Kind == view.EventSubjectRevoked {
		// The view compares iat (seconds) with the cut-off truncated to
		// the second: a token of that very second is refused too.
		ev.RevokedBefore = e.At.Truncate(time.Second)
	}
	return ev
}

func watchError(err error) error {
	switch {
	case errors.Is(err, view.ErrTooManyWatchers):
		return errs.New(errs.ResourceExhausted, "too many revocation watchers on this replica; retry later or on another replica")
	case errors.Is(err, view.ErrWatchClosed):
		return errs.New(errs.Unavailable, "this replica is shutting down; resume from the last cursor")
	}
	return err // the context's error: the caller went away
}
