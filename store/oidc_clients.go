package store

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent/dialect"

	"github.com/gatehouse/gatehouse/store/ent"
	"github.com/gatehouse/gatehouse/store/ent/account"
)

// OAuthClient is the OAuth 2.0 / OIDC side of a service client: what the
// authorization code flow and the logout endpoint need.
type OAuthClient struct {
	AccountID, ClientID string
	Active              bool
	// HasSecret: a confidential client authenticates with its secret.
	HasSecret bool
	OAuthClientSettings
}

// OAuthClientSettings are the client's registered OAuth settings.
type OAuthClientSettings struct {
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// GrantTypes empty: every grant but authorization_code.
	GrantTypes []string
	// Public clients have no secret and must use PKCE.
	Public bool
	// FirstParty clients are never asked for consent.
	FirstParty bool
	// IDTokenAlg is id_token_signed_response_alg ("" for RS256).
	IDTokenAlg string
}

func toOAuthClient(e *ent.Account) OAuthClient {
	c := OAuthClient{
		AccountID: e.ID, Active: e.Active, HasSecret: len(e.SecretHash) > 0,
		OAuthClientSettings: OAuthClientSettings{
			RedirectURIs:           slices.Clone(e.RedirectUris),
			PostLogoutRedirectURIs: slices.Clone(e.PostLogoutRedirectUris),
			GrantTypes:             slices.Clone(e.GrantTypes),
			Public:                 e.PublicClient,
			FirstParty:             e.FirstParty,
			IDTokenAlg:             e.IDTokenAlg,
		},
	}
	if e.ClientID != nil {
		c.ClientID = *e.ClientID
	}
	return c
}

// OAuthClientByClientID returns the service client with client_id id.
func (s *Store) OAuthClientByClientID(ctx context.Context, id string) (OAuthClient, error) {
	e, err := s.client.Account.Query().
		Where(account.ClientID(id), account.KindEQ(account.KindService)).
		Only(ctx)
	if err != nil {
		return OAuthClient{}, fmt.Errorf("get oauth client: %w", mapErr(err))
	}
	return toOAuthClient(e), nil
}

// OAuthClientByID returns the service client with account id id.
func (s *Store) OAuthClientByID(ctx context.Context, id string) (OAuthClient, error) {
	e, err := s.client.Account.Query().
		Where(account.ID(id), account.KindEQ(account.KindService)).
		Only(ctx)
	if err != nil {
		return OAuthClient{}, fmt.Errorf("get oauth client: %w", mapErr(err))
	}
	return toOAuthClient(e), nil
}

// SetOAuthClient applies fn to the settings of service client id in a
// transaction (with its audit events, see WithAudit) and logs the change
// for the replicas. A public client's secret is removed.
func (s *Store) SetOAuthClient(ctx context.Context, id string, fn func(c *OAuthClient) error) (OAuthClient, error) {
	var out OAuthClient
	err := s.inTx(ctx, func(tx *ent.Tx) error {
		q := tx.Account.Query().Where(account.ID(id), account.KindEQ(account.KindService))
		if s.dialect == dialect.Postgres {
			q = q.ForUpdate()
		}
		e, err := q.Only(ctx)
		if err != nil {
			return fmt.Errorf("get oauth client: %w", mapErr(err))
		}
		c := toOAuthClient(e)
		if err := fn(&c); err != nil {
			return err
		}
		u := tx.Account.UpdateOneID(id).
			SetPublicClient(c.Public).
			SetFirstParty(c.FirstParty).
			SetIDTokenAlg(c.IDTokenAlg).
			SetUpdatedAt(s.clock())
		setOrClear(c.RedirectURIs, u.SetRedirectUris, u.ClearRedirectUris)
		setOrClear(c.PostLogoutRedirectURIs, u.SetPostLogoutRedirectUris, u.ClearPostLogoutRedirectUris)
		setOrClear(c.GrantTypes, u.SetGrantTypes, u.ClearGrantTypes)
		if c.Public {
			u.ClearSecretHash()
			c.HasSecret = false
		}
		if _, err := u.Save(ctx); err != nil {
			return fmt.Errorf("update oauth client: %w", mapErr(err))
		}
		out = c
		return s.appendChange(ctx, tx, ChangeAccount, id)
	})
	return out, err
}

func setOrClear[U any](v []string, set func([]string) U, clear func() U) {
	if len(v) == 0 {
		clear()
		return
	}
	set(v)
}
