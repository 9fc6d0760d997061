package gatehouse

import (
	"context"
	"fmt"

	"golang.org/x/oauth2"
	"google.golang.org/grpc/credentials"
)

// PerRPCCredentials attaches a token from ts to every gRPC call as
// `authorization: Bearer`. It refuses to send a token over a connection
// without transport security unless allowInsecure (for loopback tests).
func PerRPCCredentials(ts oauth2.TokenSource, allowInsecure bool) credentials.PerRPCCredentials {
	return tokenCredentials{ts: ts, allowInsecure: allowInsecure}
}

type tokenCredentials struct {
	ts            oauth2.TokenSource
	allowInsecure bool
}

func (c tokenCredentials) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	if !c.allowInsecure {
		ri, _ := credentials.RequestInfoFromContext(ctx)
		if err := credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity); err != nil {
			return nil, fmt.Errorf("gatehouse: refusing to send a token over an insecure connection: %w", err)
		}
	}
	tok, err := c.ts.Token()
	if err != nil {
		return nil, fmt.Errorf("gatehouse: get a token: %w", err)
	}
	return map[string]string{"authorization": "Bearer " + tok.AccessToken}, nil
}

func (c tokenCredentials) RequireTransportSecurity() bool { return !c.allowInsecure }
