package gatehouse

import (
	"cmp"
	"context"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ClientCredentialsConfig names a service client and what it asks for.
type ClientCredentialsConfig struct {
	// Issuer is gatehouse's public URL; TokenURL defaults to Issuer +
	// "/oauth2/token".
	Issuer       string
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scopes       []string
	// Audience requests a token for one of the client's allowed audiences
	// (default: its first).
	Audience string
	// EarlyExpiry renews a token this long before it expires (default 30 s).
	EarlyExpiry time.Duration
}

// ClientCredentials returns a token source for a service client: the
// client_credentials grant, the token reused until EarlyExpiry before it
// expires, at most one fetch at a time. ctx carries the HTTP client
// (oauth2.HTTPClient) and must outlive the source.
func ClientCredentials(ctx context.Context, c ClientCredentialsConfig) oauth2.TokenSource {
	cfg := clientcredentials.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: c.Scopes,
		TokenURL: tokenURL(c.Issuer, c.TokenURL),
	}
	if c.Audience != "" {
		cfg.EndpointParams = url.Values{"audience": {c.Audience}}
	}
	src := fetcher(func() (*oauth2.Token, error) { return cfg.Token(ctx) })
	return oauth2.ReuseTokenSourceWithExpiry(nil, src, cmp.Or(c.EarlyExpiry, 30*time.Second))
}

// OfflineTokenConfig names an offline token (gho_..., from the password
// grant with scope offline_access) and the client it was issued to.
type OfflineTokenConfig struct {
	Issuer       string
	TokenURL     string
	OfflineToken string
	// ClientID and ClientSecret: empty for gatehouse's default client.
	ClientID     string
	ClientSecret string
	EarlyExpiry  time.Duration
}

// OfflineTokenSource returns a token source that renews access tokens with
// the refresh_token grant and an offline token (which does not rotate),
// reusing each until EarlyExpiry before it expires.
func OfflineTokenSource(ctx context.Context, c OfflineTokenConfig) oauth2.TokenSource {
	cfg := oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: tokenURL(c.Issuer, c.TokenURL), AuthStyle: oauth2.AuthStyleInParams},
	}
	refresher := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: c.OfflineToken})
	return oauth2.ReuseTokenSourceWithExpiry(nil, refresher, cmp.Or(c.EarlyExpiry, 30*time.Second))
}

func tokenURL(issuer, explicit string) string {
	return cmp.Or(explicit, strings.TrimSuffix(issuer, "/")+"/oauth2/token")
}

type fetcher func() (*oauth2.Token, error)

func (f fetcher) Token() (*oauth2.Token, error) { return f() }
