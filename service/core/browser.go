package core

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/store"
)

// Browser sessions: the login page's sign-in. A browser session is a
// session of the refresh-token machinery (one refresh_tokens row, its
// family id being the session id and the `sid` of its access tokens) whose
// secret lives in an HttpOnly cookie. Unlike a refresh token it does not
// rotate (a browser sends it on every page, often from several tabs at
// once), and its own prefix keeps it out of the token endpoint: the refresh
// grant, RFC 7009 revocation and ValidateToken recognise only ghr_ and gho_.
// It ends like any session: refresh idle and absolute lifetimes, admin
// RevokeSession or revoke-all, disabling or deleting the account, logout.
const (
	// BrowserSessionPrefix marks a browser session secret.
	BrowserSessionPrefix = "ghs_"
	// GrantBrowserSession labels the access tokens issued to browser
	// sessions (metrics, the token.issued event).
	GrantBrowserSession = "browser_session"
	// browserTouchEvery bounds the last-use writes of a busy session: the
	// idle timeout is days, so minute precision is plenty.
	browserTouchEvery = time.Minute
	// csrfPurpose names the key CSRF tokens are derived with.
	csrfPurpose = "browser-csrf"
)

// BrowserSession is a live browser session.
type BrowserSession struct {
	// ID is the session (refresh-token family) id, the `sid` of its tokens.
	ID        string
	AccountID string
	Username  string
	// AuthTime is when the user entered the password.
	AuthTime time.Time
	// ExpiresAt is the absolute end of the session (the idle timeout may
	// end it earlier).
	ExpiresAt time.Time
}

// BrowserLogin is a signed-in browser: its session, the session secret for
// the cookie (only its keyed hash is stored) and a first access token.
type BrowserLogin struct {
	Session BrowserSession
	Secret  string
	Access  TokenResponse
}

var errNoBrowserSession = errs.New(errs.Unauthenticated, "no valid browser session")

// BrowserLogin checks a username and password through the same throttle
// and audit as the password grant and starts a browser session.
func (s *Service) BrowserLogin(ctx context.Context, username, password, ip string) (BrowserLogin, error) {
	if username == "" || password == "" {
		return BrowserLogin{}, errs.New(errs.InvalidArgument, "enter a username and a password")
	}
	acct, err := s.authenticateUser(ctx, username, password, ip)
	if err != nil {
		return BrowserLogin{}, err
	}
	secret, err := secrets.RandomToken(BrowserSessionPrefix)
	if err != nil {
		return BrowserLogin{}, errs.Wrap(errs.Internal, err, "could not make a session secret")
	}
	now := s.now().UTC()
	t := store.RefreshToken{
		ID:              uuid.NewString(),
		TokenHash:       s.secrets.Hash(secret),
		FamilyID:        uuid.NewString(),
		AccountID:       acct.ID,
		ClientID:        s.cfg.DefaultClientID,
		CreatedAt:       now,
		FamilyCreatedAt: now,
		LastUsedAt:      now,
		ExpiresAt:       now.Add(s.cfg.RefreshAbsoluteTTL),
	}
	if _, err := s.store.CreateRefreshToken(ctx, t); err != nil {
		return BrowserLogin{}, errs.Wrap(errs.Internal, err, "could not store the browser session")
	}
	sess := browserSessionOf(t, acct)
	res, err := s.signBrowser(ctx, acct, sess, ip)
	if err != nil {
		return BrowserLogin{}, err
	}
	return BrowserLogin{Session: sess, Secret: secret, Access: res}, nil
}

// BrowserSession returns the live session a session secret stands for, and
// records its use for the idle timeout.
func (s *Service) BrowserSession(ctx context.Context, secret string) (BrowserSession, error) {
	sess, _, err := s.browserSession(ctx, secret)
	return sess, err
}

// BrowserAccessToken signs a fresh access token for a live browser session
// (the `_token` cookie of a session whose previous token expired).
func (s *Service) BrowserAccessToken(ctx context.Context, secret, ip string) (BrowserSession, TokenResponse, error) {
	sess, acct, err := s.browserSession(ctx, secret)
	if err != nil {
		return BrowserSession{}, TokenResponse{}, err
	}
	res, err := s.signBrowser(ctx, acct, sess, ip)
	return sess, res, err
}

// EndBrowserSession ends the session of a secret (logout): its family is
// revoked, so that its access tokens (`sid`) are refused on every replica
// within a poll interval. An unknown or already ended session is not an
// error.
func (s *Service) EndBrowserSession(ctx context.Context, secret, ip string) error {
	if !looksOpaque(secret, BrowserSessionPrefix) {
		return nil
	}
	t, err := s.store.RefreshTokenByHash(ctx, s.secrets.Hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return errs.Wrap(errs.Internal, err, "could not read the browser session")
	}
	if !t.RevokedAt.IsZero() {
		return nil
	}
	if err := s.store.RevokeFamily(ctx, t.FamilyID, s.now().UTC()); err != nil {
		return errs.Wrap(errs.Internal, err, "could not end the browser session")
	}
	s.syncView(ctx)
	s.obs.Observe(ctx, Event{Type: EventTokenRevoked, Subject: t.AccountID, ClientID: t.ClientID, IP: ip,
		Detail: map[string]string{"session": t.FamilyID, "by": "logout"}})
	return nil
}

// CSRFToken returns the token that forms bound to binding (a pre-session
// cookie or a session id) must carry: an HMAC under a key derived from the
// persistent token-hash key, so every replica computes the same token and
// nobody without the key can.
func (s *Service) CSRFToken(binding string) (string, error) {
	tok, err := s.secrets.DeriveToken(csrfPurpose, "", binding)
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "could not make a CSRF token")
	}
	return tok, nil
}

// CheckCSRFToken reports in constant time whether token is binding's.
func (s *Service) CheckCSRFToken(binding, token string) bool {
	want, err := s.CSRFToken(binding)
	return err == nil && token != "" && subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}

// browserSession checks a session secret: shape, row, revocation (the row,
// and the view for revocations on other replicas), lifetimes, account.
func (s *Service) browserSession(ctx context.Context, secret string) (BrowserSession, store.Account, error) {
	if !looksOpaque(secret, BrowserSessionPrefix) {
		return BrowserSession{}, store.Account{}, errNoBrowserSession
	}
	t, err := s.store.RefreshTokenByHash(ctx, s.secrets.Hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return BrowserSession{}, store.Account{}, errNoBrowserSession
	}
	if err != nil {
		return BrowserSession{}, store.Account{}, errs.Wrap(errs.Internal, err, "could not read the browser session")
	}
	now := s.now()
	if !t.RevokedAt.IsZero() || !t.RotatedAt.IsZero() || s.checkRefreshLifetime(t, now) != nil ||
		s.view.Revoked("", t.FamilyID, t.AccountID, t.FamilyCreatedAt.Truncate(time.Second)) {
		return BrowserSession{}, store.Account{}, errNoBrowserSession
	}
	acct, err := s.sessionAccount(ctx, t)
	if err != nil {
		if errs.KindOf(err) == errs.Internal {
			return BrowserSession{}, store.Account{}, err
		}
		return BrowserSession{}, store.Account{}, errNoBrowserSession
	}
	if now.Sub(t.LastUsedAt) > browserTouchEvery {
		if err := s.store.TouchRefreshToken(ctx, t.ID, now.UTC()); err != nil {
			s.log.Warn("could not record browser session use", "session", t.FamilyID, "err", err)
		}
	}
	return browserSessionOf(t, acct), acct, nil
}

func browserSessionOf(t store.RefreshToken, acct store.Account) BrowserSession {
	return BrowserSession{ID: t.FamilyID, AccountID: acct.ID, Username: acct.Username, AuthTime: t.FamilyCreatedAt, ExpiresAt: t.ExpiresAt}
}

// signBrowser signs an access token of a browser session, like the
// password grant's (default client, the server's audience, sid).
func (s *Service) signBrowser(ctx context.Context, acct store.Account, sess BrowserSession, ip string) (TokenResponse, error) {
	res, err := s.signToken(ctx, tokenSpec{acct: acct, subject: acct.ID, clientID: s.cfg.DefaultClientID, session: sess.ID})
	if err != nil {
		return TokenResponse{}, err
	}
	s.obs.Observe(ctx, Event{Type: EventTokenIssued, Grant: GrantBrowserSession, ClientID: s.cfg.DefaultClientID, IP: ip})
	return res, nil
}
