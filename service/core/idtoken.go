package core

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/jose"
	"github.com/gatehouse/gatehouse/store"
)

// idTokenClaims are an OIDC ID token's claims (OIDC Core §2, §3.1.3.6, §5.1).
type idTokenClaims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud"`
	ExpiresAt         int64  `json:"exp"`
	IssuedAt          int64  `json:"iat"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	Nonce             string `json:"nonce,omitempty"`
	AtHash            string `json:"at_hash,omitempty"`
	SessionID         string `json:"sid,omitempty"`
	AuthorizedParty   string `json:"azp"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
}

type idTokenSpec struct {
	acct        store.Account
	client      store.OAuthClient
	nonce       string
	authTime    time.Time
	session     string
	scopes      []string
	accessToken string
}

// idTokenSigner picks the key for a client's id_token_signed_response_alg:
// the RS256 ID-token key (or the access-token key when it is RS256), or the
// access-token key when the client asked for its algorithm.
func (s *Service) idTokenSigner(ctx context.Context, alg string) (jose.PrivateKey, error) {
	if alg == "" {
		alg = jose.RS256
	}
	ring := s.view.Ring()
	if alg == jose.RS256 && ring.IDSigner.Key == nil && ring.Signer.Key != nil {
		// A client registered before this version: start the ID-token key.
		if err := s.ensureIDTokenKey(ctx); err != nil {
			return jose.PrivateKey{}, err
		}
		ring = s.view.Ring()
	}
	switch {
	case alg == jose.RS256 && ring.IDSigner.Key != nil:
		return ring.IDSigner, nil
	case ring.Signer.Key != nil && ring.Signer.Alg == alg:
		return ring.Signer, nil
	}
	return jose.PrivateKey{}, errs.New(errs.Unavailable, "no %s key to sign ID tokens with yet", alg)
}

// signIDToken signs an ID token for the client.
func (s *Service) signIDToken(ctx context.Context, t idTokenSpec) (string, error) {
	_, span := childSpan(ctx, s.tracer, "jwt.sign")
	defer span.End()
	signer, err := s.idTokenSigner(ctx, t.client.IDTokenAlg)
	if err != nil {
		return "", err
	}
	now := s.now().Truncate(time.Second)
	c := idTokenClaims{
		Issuer: s.cfg.Issuer, Subject: t.acct.ID, Audience: t.client.ClientID, AuthorizedParty: t.client.ClientID,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(s.cfg.AccessTokenTTL).Unix(),
		Nonce: t.nonce, SessionID: t.session, AtHash: halfHash(signer.Alg, t.accessToken),
	}
	if !t.authTime.IsZero() {
		c.AuthTime = t.authTime.Unix()
	}
	profile, email := scopeClaims(t.acct, t.scopes)
	c.Name, c.PreferredUsername = profile.name, profile.username
	c.Email, c.EmailVerified = email.email, email.verified
	tok, err := jose.Sign(signer, "JWT", c)
	if err != nil {
		return "", errs.Wrap(errs.Internal, err, "could not sign the ID token")
	}
	return tok, nil
}

type profileClaims struct{ name, username string }

type emailClaims struct {
	email    string
	verified *bool
}

// scopeClaims are the profile and email claims the scopes allow (OIDC Core
// §5.4). email_verified is false: gatehouse never verifies an address
// (administrators enter them).
func scopeClaims(acct store.Account, scopes []string) (profileClaims, emailClaims) {
	var p profileClaims
	var e emailClaims
	if slices.Contains(scopes, "profile") {
		p.name, p.username = acct.DisplayName, acct.Username
	}
	if slices.Contains(scopes, "email") && acct.Email != "" {
		f := false
		e.email, e.verified = acct.Email, &f
	}
	return p, e
}

// halfHash is at_hash (OIDC Core §3.1.3.6): the left half of the hash of
// the access token, with the hash of the ID token's algorithm.
func halfHash(alg, token string) string {
	if token == "" {
		return ""
	}
	var h hash.Hash
	switch alg {
	case jose.EdDSA:
		h = sha512.New()
	default:
		h = sha256.New()
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// ensureIDTokenKey makes sure an RS256 key signs ID tokens (see
// keys.Manager.EnsureIDTokenKey) and that this replica sees it.
func (s *Service) ensureIDTokenKey(ctx context.Context) error {
	if err := s.keys.EnsureIDTokenKey(store.WithAuditOrigin(ctx, auditOrigin(ctx))); err != nil {
		return keyChangeError(err, "could not create the ID token signing key")
	}
	s.syncView(ctx)
	return nil
}
