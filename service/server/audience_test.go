package server_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/server"
)

const (
	audAPI     = "https://api.example.com"
	audReports = "reports"
	audOther   = "https://other.example.com"
)

func withRequireAudience(c *server.Config) { c.Core.RequireAudience = true }

// audienceClient creates a service client allowed the given audiences and
// returns its id and secret.
func (ts *testServer) audienceClient(t *testing.T, id string, audiences ...string) (string, string) {
	t.Helper()
	res, err := ts.admin.CreateServiceClient(ts.adminCtx(t), &gatehousev1.CreateServiceClientRequest{ClientId: id, Audiences: audiences})
	if err != nil {
		t.Fatalf("create client %s: %v", id, err)
	}
	if !slices.Equal(res.Client.Audiences, audiences) {
		t.Fatalf("client %s: audiences = %q, want %q", id, res.Client.Audiences, audiences)
	}
	return res.Client.ClientId, res.ClientSecret
}

// ccToken runs client_credentials over gRPC.
func (ts *testServer) ccToken(id, secret, audience string, resources ...string) (*gatehousev1.IssueTokenResponse, error) {
	return ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{
		GrantType: "client_credentials", ClientId: id, ClientSecret: secret, Audience: audience, Resource: resources,
	})
}

// audOf validates token for audience and returns the token's audiences.
func (ts *testServer) audOf(t *testing.T, token, audience string) []string {
	t.Helper()
	v, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: token, Audience: audience})
	if err != nil {
		t.Fatalf("validate for %q: %v", audience, err)
	}
	return v.Principal.Audience
}

func wantInvalidTarget(t *testing.T, label string, err error) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("%s: err = %v, want INVALID_ARGUMENT", label, err)
	}
}

func TestAudienceClientCredentials(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		// Without a list the client gets the server's audience.
		defID, defSecret := ts.audienceClient(t, "plain")
		res, err := ts.ccToken(defID, defSecret, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := ts.audOf(t, res.AccessToken, "gatehouse"); !slices.Equal(got, []string{"gatehouse"}) {
			t.Errorf("default client: aud = %q, want [gatehouse]", got)
		}
		_, err = ts.ccToken(defID, defSecret, audReports)
		wantInvalidTarget(t, "default client asks for another audience", err)

		id, secret := ts.audienceClient(t, "etl", audAPI, audReports, audOther)
		// No request: the first allowed audience, and only it.
		res, err = ts.ccToken(id, secret, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := ts.audOf(t, res.AccessToken, audAPI); !slices.Equal(got, []string{audAPI}) {
			t.Errorf("no audience requested: aud = %q, want [%s]", got, audAPI)
		}
		if _, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: res.AccessToken, Audience: "gatehouse"}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("token of %s validated for gatehouse: %v, want UNAUTHENTICATED", audAPI, err)
		}
		// A requested allowed audience is exactly the token's.
		res, err = ts.ccToken(id, secret, audReports)
		if err != nil {
			t.Fatal(err)
		}
		if got := ts.audOf(t, res.AccessToken, audReports); !slices.Equal(got, []string{audReports}) {
			t.Errorf("audience reports: aud = %q", got)
		}
		if _, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: res.AccessToken, Audience: audAPI}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("token of reports validated for %s: %v, want UNAUTHENTICATED", audAPI, err)
		}
		// RFC 8707 resources, several at once.
		res, err = ts.ccToken(id, secret, "", audAPI, audOther)
		if err != nil {
			t.Fatal(err)
		}
		if got := ts.audOf(t, res.AccessToken, audOther); !slices.Equal(got, []string{audAPI, audOther}) {
			t.Errorf("two resources: aud = %q", got)
		}
		// Refused: not allowed, the server's own audience not on the list,
		// a resource that is not an absolute URI or has a fragment.
		for label, req := range map[string][2]string{
			"unlisted audience":       {"https://evil.example.com", ""},
			"server audience":         {"gatehouse", ""},
			"unlisted resource":       {"", "https://evil.example.com"},
			"relative resource":       {"", audReports},
			"resource with fragment":  {"", audAPI + "#x"},
			"one allowed, one not":    {audReports, "https://evil.example.com"},
			"control character":       {"rep\x01orts", ""},
			"surrounding white space": {" reports", ""},
		} {
			var resources []string
			if req[1] != "" {
				resources = []string{req[1]}
			}
			_, err := ts.ccToken(id, secret, req[0], resources...)
			wantInvalidTarget(t, label, err)
		}

		// /oauth2/token: form parameters, resource repeated, invalid_target.
		form := func(extra string) httpResult {
			return ts.do(t, "POST", "/oauth2/token", "application/x-www-form-urlencoded",
				"grant_type=client_credentials&client_id=etl&client_secret="+url.QueryEscape(secret)+extra, "")
		}
		r := form("&resource=" + url.QueryEscape(audAPI) + "&resource=" + url.QueryEscape(audOther))
		if r.status != 200 {
			t.Fatalf("/oauth2/token with two resources: %d %s", r.status, r.body)
		}
		if got := ts.audOf(t, r.json(t)["access_token"].(string), audAPI); !slices.Equal(got, []string{audAPI, audOther}) {
			t.Errorf("/oauth2/token two resources: aud = %q", got)
		}
		r = form("&audience=" + audReports)
		if r.status != 200 {
			t.Fatalf("/oauth2/token audience: %d %s", r.status, r.body)
		}
		if got := ts.audOf(t, r.json(t)["access_token"].(string), audReports); !slices.Equal(got, []string{audReports}) {
			t.Errorf("/oauth2/token audience: aud = %q", got)
		}
		for label, extra := range map[string]string{
			"unlisted audience": "&audience=gatehouse",
			"unlisted resource": "&resource=" + url.QueryEscape("https://evil.example.com"),
			"relative resource": "&resource=reports",
		} {
			r := form(extra)
			if r.status != 400 || r.json(t)["error"] != "invalid_target" {
				t.Errorf("/oauth2/token %s: %d %s, want 400 invalid_target", label, r.status, r.body)
			}
		}
		// REST /v1/token.
		r = ts.do(t, "POST", "/v1/token", "application/json",
			`{"grant_type":"client_credentials","client_id":"etl","client_secret":"`+secret+`","audience":"gatehouse"}`, "")
		if r.status != 400 || !strings.Contains(string(r.body), "not allowed") {
			t.Errorf("/v1/token unlisted audience: %d %s, want 400", r.status, r.body)
		}
		r = ts.do(t, "POST", "/v1/token", "application/json",
			`{"grant_type":"client_credentials","client_id":"etl","client_secret":"`+secret+`","resource":["`+audOther+`"]}`, "")
		if r.status != 200 {
			t.Fatalf("/v1/token resource: %d %s", r.status, r.body)
		}
		if got := ts.audOf(t, r.json(t)["access_token"].(string), audOther); !slices.Equal(got, []string{audOther}) {
			t.Errorf("/v1/token resource: aud = %q", got)
		}
	})
}

// TestAudienceStockClient uses golang.org/x/oauth2's client credentials
// flow with audience and resource as endpoint parameters.
func TestAudienceStockClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		id, secret := ts.audienceClient(t, "stock", audAPI, audReports)
		ctx := context.Background()
		for _, tc := range []struct {
			params url.Values
			want   string
		}{
			{url.Values{"audience": {audReports}}, audReports},
			{url.Values{"resource": {audAPI}}, audAPI},
			{nil, audAPI},
		} {
			cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: ts.baseURL + "/oauth2/token", EndpointParams: tc.params, AuthStyle: oauth2.AuthStyleInHeader}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("%v: %v", tc.params, err)
			}
			if got := ts.audOf(t, tok.AccessToken, tc.want); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("%v: aud = %q, want [%s]", tc.params, got, tc.want)
			}
		}
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: ts.baseURL + "/oauth2/token",
			EndpointParams: url.Values{"resource": {audOther}}, AuthStyle: oauth2.AuthStyleInHeader}
		_, err := cc.Token(ctx)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_target" || re.Response.StatusCode != 400 {
			t.Errorf("unlisted resource: %v, want 400 invalid_target", err)
		}
	})
}

func TestAudienceUsers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		ts.audienceClient(t, "etl", audReports) // an audience some client may have
		password := func(aud string) (*gatehousev1.IssueTokenResponse, error) {
			return ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW, Audience: aud})
		}
		_, err := password(audReports)
		wantInvalidTarget(t, "password grant for a foreign audience", err)
		_, err = ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "password", Username: "admin", Password: ts.adminPW, Resource: []string{audAPI}})
		wantInvalidTarget(t, "password grant for a foreign resource", err)
		r := ts.do(t, "POST", "/oauth2/token", "application/x-www-form-urlencoded",
			"grant_type=password&username=admin&password="+url.QueryEscape(ts.adminPW)+"&audience="+audReports, "")
		if r.status != 400 || r.json(t)["error"] != "invalid_target" {
			t.Errorf("/oauth2/token password grant, foreign audience: %d %s", r.status, r.body)
		}
		// The server's own audience may be named; the session keeps it.
		res, err := password("gatehouse")
		if err != nil {
			t.Fatal(err)
		}
		if got := ts.audOf(t, res.AccessToken, "gatehouse"); !slices.Equal(got, []string{"gatehouse"}) {
			t.Errorf("password grant: aud = %q", got)
		}
		_, err = ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "refresh_token", RefreshToken: res.RefreshToken, Audience: audReports})
		wantInvalidTarget(t, "refresh for a foreign audience", err)
		next, err := ts.auth.IssueToken(ctx, &gatehousev1.IssueTokenRequest{GrantType: "refresh_token", RefreshToken: res.RefreshToken})
		if err != nil {
			t.Fatalf("refresh after the refused one: %v", err)
		}
		if got := ts.audOf(t, next.AccessToken, "gatehouse"); !slices.Equal(got, []string{"gatehouse"}) {
			t.Errorf("refreshed token: aud = %q", got)
		}
	})
}

func TestAudienceAdmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := ts.adminCtx(t)
		for label, auds := range map[string][]string{
			"empty value":   {"a", ""},
			"too long":      {strings.Repeat("a", 513)},
			"too many":      slices.Repeat([]string{"x"}, 33),
			"control chars": {"a\nb"},
		} {
			if _, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{Audiences: auds}); status.Code(err) != codes.InvalidArgument {
				t.Errorf("create with %s: %v, want INVALID_ARGUMENT", label, err)
			}
		}
		c, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: "etl", Audiences: []string{audReports, audReports, audAPI}})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{audReports, audAPI}; !slices.Equal(c.Client.Audiences, want) {
			t.Errorf("repeats not dropped: %q", c.Client.Audiences)
		}
		list, err := ts.admin.ListServiceClients(ctx, &gatehousev1.ListServiceClientsRequest{})
		if err != nil || len(list.Clients) != 1 || !slices.Equal(list.Clients[0].Audiences, []string{audReports, audAPI}) {
			t.Fatalf("list: %v %v", list, err)
		}
		// Replacing the list changes what the client may ask for.
		a, err := ts.admin.SetServiceClientAudiences(ctx, &gatehousev1.SetServiceClientAudiencesRequest{Id: c.Client.Id, Audiences: []string{audOther}})
		if err != nil || !slices.Equal(a.Audiences, []string{audOther}) {
			t.Fatalf("set audiences: %v %v", a, err)
		}
		_, err = ts.ccToken("etl", c.ClientSecret, audReports)
		wantInvalidTarget(t, "audience removed from the list", err)
		res, err := ts.ccToken("etl", c.ClientSecret, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := ts.audOf(t, res.AccessToken, audOther); !slices.Equal(got, []string{audOther}) {
			t.Errorf("after set: aud = %q", got)
		}
		// An empty list is the server's audience again.
		if a, err = ts.admin.SetServiceClientAudiences(ctx, &gatehousev1.SetServiceClientAudiencesRequest{Id: c.Client.Id}); err != nil || len(a.Audiences) != 0 {
			t.Fatalf("reset audiences: %v %v", a, err)
		}
		if res, err = ts.ccToken("etl", c.ClientSecret, ""); err != nil {
			t.Fatal(err)
		}
		ts.audOf(t, res.AccessToken, "gatehouse")
		// Users have no audiences; bad values and unknown ids are refused.
		users, err := ts.admin.ListUsers(ctx, &gatehousev1.ListUsersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.admin.SetServiceClientAudiences(ctx, &gatehousev1.SetServiceClientAudiencesRequest{Id: users.Users[0].Id, Audiences: []string{"x"}}); status.Code(err) != codes.NotFound {
			t.Errorf("set audiences of a user: %v, want NOT_FOUND", err)
		}
		if _, err := ts.admin.SetServiceClientAudiences(ctx, &gatehousev1.SetServiceClientAudiencesRequest{Id: c.Client.Id, Audiences: []string{""}}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("set an empty audience: %v, want INVALID_ARGUMENT", err)
		}
	})
}

func TestRequireAudience(t *testing.T) {
	forEachBackendWith(t, []serverOption{withRequireAudience}, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		id, secret := ts.audienceClient(t, "etl", audReports)
		res, err := ts.ccToken(id, secret, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: res.AccessToken})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "audience is required by this server") {
			t.Errorf("no audience: %v, want INVALID_ARGUMENT", err)
		}
		r := ts.do(t, "POST", "/v1/token:validate", "application/json", `{"token":"`+res.AccessToken+`"}`, "")
		if r.status != 400 {
			t.Errorf("REST without audience: %d %s, want 400", r.status, r.body)
		}
		ts.audOf(t, res.AccessToken, audReports)
		r = ts.do(t, "POST", "/v1/token:validate", "application/json", `{"token":"`+res.AccessToken+`","audience":"reports"}`, "")
		if r.status != 200 {
			t.Errorf("REST with the audience: %d %s, want 200", r.status, r.body)
		}
		if _, err := ts.auth.ValidateToken(ctx, &gatehousev1.ValidateTokenRequest{Token: res.AccessToken, Audience: "gatehouse"}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("another audience: %v, want UNAUTHENTICATED", err)
		}
		// Introspection and the admin API are not affected.
		in, err := ts.auth.IntrospectToken(ctx, &gatehousev1.IntrospectTokenRequest{Token: res.AccessToken, ClientId: id, ClientSecret: secret})
		if err != nil || !in.Active {
			t.Errorf("introspection under --require-audience: %v %v", in, err)
		}
		if _, err := ts.admin.ListServiceClients(ts.adminCtx(t), &gatehousev1.ListServiceClientsRequest{}); err != nil {
			t.Errorf("admin API under --require-audience: %v", err)
		}
	})
}
