package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

// payload decodes a JWT's claims without checking anything.
func payload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// putProfile sets a claim profile over gRPC and fails the test on error.
func (ts *testServer) putProfile(t *testing.T, req *gatehousev1.PutClaimProfileRequest) *gatehousev1.ClaimProfile {
	t.Helper()
	p, err := ts.admin.PutClaimProfile(ts.adminCtx(t), req)
	if err != nil {
		t.Fatalf("put claim profile for %s: %v", req.Audience, err)
	}
	return p
}

// profiledUser creates a user with these roles and returns its id.
func (ts *testServer) profiledUser(t *testing.T, username string, roles ...string) string {
	t.Helper()
	u, err := ts.admin.CreateUser(ts.adminCtx(t), &gatehousev1.CreateUserRequest{
		Username: username, Email: username + "@example.com", DisplayName: "User " + username, Password: username + "-password", Roles: roles,
	})
	if err != nil {
		t.Fatalf("create user %s: %v", username, err)
	}
	return u.Id
}

func TestClaimProfilesAdmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := ts.adminCtx(t)
		invalid := []struct {
			name string
			req  *gatehousev1.PutClaimProfileRequest
			want string // in the message
		}{
			{"no audience", &gatehousev1.PutClaimProfileRequest{Builtin: "airflow"}, "must not be empty"},
			{"unknown builtin", &gatehousev1.PutClaimProfileRequest{Audience: "a", Builtin: "superset"}, "builtin"},
			{"bad subject", &gatehousev1.PutClaimProfileRequest{Audience: "a", Subject: "email"}, "subject"},
			{"registered claim", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "exp", Source: "constant", Value: "1"}}}, "reserved"},
			{"registered claim in other case", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "Sub", Source: "username"}}}, "reserved"},
			{"gatehouse claim", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "sid", Source: "constant", Value: "x"}}}, "reserved"},
			{"uid", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "uid", Source: "username"}}}, "reserved"},
			{"bad claim name", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "ро́ль", Source: "role"}}}, "claim name"},
			{"unknown source", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "x", Source: "groups"}}}, "source"},
			{"constant without value", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "x", Source: "constant"}}}, "needs a value"},
			{"value of a non-constant", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "x", Source: "email", Value: "v"}}}, "only for source constant"},
			{"long constant", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "x", Source: "constant", Value: strings.Repeat("v", 257)}}}, "longer than"},
			{"role order of a non-role", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "x", Source: "roles", RoleOrder: []string{"a"}}}}, "only for source role"},
			{"role order without a role claim", &gatehousev1.PutClaimProfileRequest{Audience: "a", RoleOrder: []string{"admin"}}, "role_order"},
			{"twice", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: []*gatehousev1.ProfileClaim{{Name: "x", Source: "email"}, {Name: "X", Source: "name"}}}, "twice"},
			{"bad visible role", &gatehousev1.PutClaimProfileRequest{Audience: "a", VisibleRoles: []string{"has space"}}, "role"},
			{"too many claims", &gatehousev1.PutClaimProfileRequest{Audience: "a", Claims: manyClaims(17)}, "at most 16"},
		}
		for _, c := range invalid {
			_, err := ts.admin.PutClaimProfile(ctx, c.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), c.want) {
				t.Errorf("%s: %v, want INVALID_ARGUMENT mentioning %q", c.name, err, c.want)
			}
		}

		// gRPC: the built-in with another role order, then replaced.
		p := ts.putProfile(t, &gatehousev1.PutClaimProfileRequest{Audience: "https://airflow.example.com", Builtin: "airflow", RoleOrder: []string{"admin", "op"}})
		if p.Subject != "username" || p.Builtin != "airflow" || len(p.Claims) != 1 || p.Claims[0].Name != "role" || !slices.Equal(p.Claims[0].RoleOrder, []string{"admin", "op"}) {
			t.Errorf("airflow profile = %v", p)
		}
		got, err := ts.admin.GetClaimProfile(ctx, &gatehousev1.GetClaimProfileRequest{Audience: "https://airflow.example.com"})
		if err != nil || got.Subject != "username" || !got.CreatedAt.AsTime().Equal(p.CreatedAt.AsTime()) {
			t.Errorf("get = %v, %v", got, err)
		}
		if _, err := ts.admin.GetClaimProfile(ctx, &gatehousev1.GetClaimProfileRequest{Audience: "nobody"}); status.Code(err) != codes.NotFound {
			t.Errorf("get unknown: %v, want NOT_FOUND", err)
		}

		// REST: PUT with the audience in the body, GET and DELETE by query.
		admin := ts.adminToken(t)
		r := ts.do(t, "PUT", "/v1/admin/claim-profiles", "application/json",
			`{"audience":"reports","subject":"username","claims":[{"name":"tenant","source":"constant","value":"acme"},{"name":"role","source":"role"}],"visible_roles":["viewer"]}`, admin)
		if r.status != 200 || r.json(t)["subject"] != "username" {
			t.Fatalf("REST put: %d %s", r.status, r.body)
		}
		q := "?audience=" + url.QueryEscape("https://airflow.example.com")
		r = ts.do(t, "GET", "/v1/admin/claim-profiles:lookup"+q, "", "", admin)
		if r.status != 200 || r.json(t)["builtin"] != "airflow" {
			t.Errorf("REST get: %d %s", r.status, r.body)
		}
		r = ts.do(t, "GET", "/v1/admin/claim-profiles", "", "", admin)
		var list struct {
			Profiles []struct{ Audience string } `json:"profiles"`
		}
		if err := json.Unmarshal(r.body, &list); r.status != 200 || err != nil || len(list.Profiles) != 2 || list.Profiles[0].Audience != "https://airflow.example.com" {
			t.Errorf("REST list: %d %s", r.status, r.body)
		}
		r = ts.do(t, "PUT", "/v1/admin/claim-profiles", "application/json", `{"audience":"reports","claims":[{"name":"aud","source":"constant","value":"x"}]}`, admin)
		if r.status != 400 {
			t.Errorf("REST put of a reserved claim: %d %s", r.status, r.body)
		}
		ts.profiledUser(t, "plain")
		r = ts.do(t, "GET", "/v1/admin/claim-profiles", "", "", ts.token(t, "plain", "plain-password"))
		if r.status != 403 {
			t.Errorf("REST list by a non-admin: %d %s", r.status, r.body)
		}
		if r = ts.do(t, "DELETE", "/v1/admin/claim-profiles"+q, "", "", admin); r.status != 200 {
			t.Errorf("REST delete: %d %s", r.status, r.body)
		}
		if r = ts.do(t, "DELETE", "/v1/admin/claim-profiles"+q, "", "", admin); r.status != 404 {
			t.Errorf("REST delete again: %d %s", r.status, r.body)
		}
		if _, err := ts.admin.DeleteClaimProfile(ctx, &gatehousev1.DeleteClaimProfileRequest{Audience: "reports"}); err != nil {
			t.Errorf("gRPC delete: %v", err)
		}
		lr, err := ts.admin.ListClaimProfiles(ctx, &gatehousev1.ListClaimProfilesRequest{})
		if err != nil || len(lr.Profiles) != 0 {
			t.Errorf("list after deletes: %v, %v", lr, err)
		}

		// Every change is audited.
		for typ, want := range map[string]int{"claim_profile.set": 2, "claim_profile.deleted": 2} {
			ev, err := ts.admin.ListAuditEvents(ctx, &gatehousev1.ListAuditEventsRequest{Type: typ})
			if err != nil || len(ev.Events) != want {
				t.Errorf("audit %s: %d events (%v), want %d", typ, len(ev.GetEvents()), err, want)
			}
		}
	})
}

func manyClaims(n int) []*gatehousev1.ProfileClaim {
	out := make([]*gatehousev1.ProfileClaim, n)
	for i := range out {
		out[i] = &gatehousev1.ProfileClaim{Name: fmt.Sprintf("c%d", i), Source: "email"}
	}
	return out
}

func TestClaimProfileShaping(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := ts.adminCtx(t)
		bobID := ts.profiledUser(t, "bob", "Viewer", "ops", "admin")
		carolID := ts.profiledUser(t, "carol", "guest")
		svc, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: "etl", Roles: []string{"op", "viewer"}, Audiences: []string{"reports", "gatehouse"}})
		if err != nil {
			t.Fatal(err)
		}
		// The server's audience (user tokens) gets the airflow profile,
		// "reports" (the client's) a custom one.
		ts.putProfile(t, &gatehousev1.PutClaimProfileRequest{Audience: "gatehouse", Builtin: "airflow",
			Claims: []*gatehousev1.ProfileClaim{{Name: "name", Source: "name"}, {Name: "tenant", Source: "constant", Value: "acme"}}})
		ts.putProfile(t, &gatehousev1.PutClaimProfileRequest{Audience: "reports", Subject: "username", VisibleRoles: []string{"VIEWER"},
			Claims: []*gatehousev1.ProfileClaim{{Name: "group", Source: "role", RoleOrder: []string{"op", "viewer"}}, {Name: "user", Source: "username"}, {Name: "all", Source: "roles"}}})

		ccToken := func(aud string) string {
			res, err := ts.ccToken("etl", svc.ClientSecret, aud)
			if err != nil {
				t.Fatalf("client credentials for %s: %v", aud, err)
			}
			return res.AccessToken
		}
		cases := []struct {
			name   string
			token  string
			want   map[string]any // claims that must be present with these values
			absent []string
		}{
			{"user, airflow: first role in the FAB order, spelt as held",
				ts.token(t, "bob", "bob-password"),
				map[string]any{"sub": "bob", "uid": bobID, "role": "admin", "roles": []any{"Viewer", "admin", "ops"}, "name": "User bob", "tenant": "acme", "preferred_username": "bob"},
				nil},
			{"user, airflow: no FAB role, so the first it has",
				ts.token(t, "carol", "carol-password"),
				map[string]any{"sub": "carol", "uid": carolID, "role": "guest"},
				nil},
			{"client, custom profile: username is the client id, roles filtered",
				ccToken("reports"),
				map[string]any{"sub": "etl", "uid": svc.Client.Id, "group": "viewer", "user": "etl", "roles": []any{"viewer"}, "all": []any{"viewer"}},
				[]string{"role", "tenant"}},
			{"client, airflow profile of the server's audience",
				ccToken("gatehouse"),
				map[string]any{"sub": "etl", "uid": svc.Client.Id, "role": "op", "roles": []any{"op", "viewer"}},
				[]string{"name", "preferred_username"}},
		}
		for _, c := range cases {
			claims := payload(t, c.token)
			for k, v := range c.want {
				if got, err := json.Marshal(claims[k]); err != nil || !jsonEqual(claims[k], v) {
					t.Errorf("%s: %s = %s, want %v", c.name, k, got, v)
				}
			}
			for _, k := range c.absent {
				if _, ok := claims[k]; ok {
					t.Errorf("%s: has %s = %v", c.name, k, claims[k])
				}
			}
			// gatehouse still knows who it is: the account id.
			v, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: c.token})
			if err != nil || v.Principal.Subject != claims["uid"] {
				t.Errorf("%s: validate: %v, subject %q, want %v", c.name, err, v.GetPrincipal().GetSubject(), claims["uid"])
			}
		}
		// No profile: unchanged tokens.
		if _, err := ts.admin.DeleteClaimProfile(ctx, &gatehousev1.DeleteClaimProfileRequest{Audience: "reports"}); err != nil {
			t.Fatal(err)
		}
		claims := payload(t, ccToken("reports"))
		if claims["sub"] != svc.Client.Id || claims["uid"] != nil || claims["group"] != nil {
			t.Errorf("after delete: claims %v", claims)
		}
		// Two audiences with different profiles cannot share a token.
		ts.putProfile(t, &gatehousev1.PutClaimProfileRequest{Audience: "reports", Subject: "username"})
		_, err = ts.ccToken("etl", svc.ClientSecret, "", "reports", "gatehouse")
		wantInvalidTarget(t, "two profiled audiences", err)
	})
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// TestClaimProfileReachesReplica: a profile set on one replica shapes the
// tokens another one issues, within its poll interval.
func TestClaimProfileReachesReplica(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		r := ts.replica(t)
		ts.profiledUser(t, "dave", "viewer")
		ts.putProfile(t, &gatehousev1.PutClaimProfileRequest{Audience: "gatehouse", Builtin: "airflow"})
		eventually(t, 10*time.Second, "replica shapes tokens", func() error {
			if c := payload(t, r.token(t, "dave", "dave-password")); c["sub"] != "dave" || c["role"] != "viewer" {
				return fmt.Errorf("replica token: sub %v role %v", c["sub"], c["role"])
			}
			return nil
		})
		if _, err := ts.admin.DeleteClaimProfile(ts.adminCtx(t), &gatehousev1.DeleteClaimProfileRequest{Audience: "gatehouse"}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "replica drops the profile", func() error {
			if c := payload(t, r.token(t, "dave", "dave-password")); c["sub"] == "dave" || c["role"] != nil {
				return fmt.Errorf("replica token: sub %v role %v", c["sub"], c["role"])
			}
			return nil
		})
	})
}

// TestProfiledTokensStayRevocable: with `sub` a username, gatehouse's own
// validation, admin API, introspection, revocation and disabling still go
// by the account id in `uid`.
func TestProfiledTokensStayRevocable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ts.putProfile(t, &gatehousev1.PutClaimProfileRequest{Audience: "gatehouse", Builtin: "airflow"})
		ctx := ts.adminCtx(t) // a profiled admin token still works
		if c := payload(t, ts.adminToken(t)); c["sub"] != "admin" || c["uid"] == nil {
			t.Fatalf("admin token not profiled: %v", c)
		}
		eveID := ts.profiledUser(t, "eve", "viewer")
		frankID := ts.profiledUser(t, "frank", "viewer")
		ts.profiledUser(t, "greg", "viewer")
		svc, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: "introspector"})
		if err != nil {
			t.Fatal(err)
		}
		validate := func(token string) error {
			_, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: token, RequiredRoles: []string{"viewer"}})
			return err
		}
		eve, frank, greg := ts.token(t, "eve", "eve-password"), ts.token(t, "frank", "frank-password"), ts.token(t, "greg", "greg-password")
		for name, tok := range map[string]string{"eve": eve, "frank": frank, "greg": greg} {
			if err := validate(tok); err != nil {
				t.Fatalf("%s's profiled token: %v", name, err)
			}
		}
		in, err := ts.auth.IntrospectToken(context.Background(), &gatehousev1.IntrospectTokenRequest{Token: greg, ClientId: "introspector", ClientSecret: svc.ClientSecret})
		if err != nil || !in.Active || in.Username != "greg" {
			t.Errorf("introspect: %v, %v", in, err)
		}
		steps := []struct {
			name  string
			act   func() error
			token string
		}{
			{"revoke all of eve", func() error {
				_, err := ts.admin.RevokeAllSessions(ctx, &gatehousev1.RevokeAllSessionsRequest{Id: eveID})
				return err
			}, eve},
			{"disable frank", func() error {
				_, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: frankID})
				return err
			}, frank},
			{"revoke greg's token", func() error {
				_, err := ts.auth.RevokeToken(context.Background(), &gatehousev1.RevokeTokenRequest{Token: greg})
				return err
			}, greg},
		}
		for _, s := range steps {
			if err := s.act(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if err := validate(s.token); status.Code(err) != codes.Unauthenticated && status.Code(err) != codes.PermissionDenied {
				t.Errorf("%s: the profiled token still validates: %v", s.name, err)
			}
		}
		in, err = ts.auth.IntrospectToken(context.Background(), &gatehousev1.IntrospectTokenRequest{Token: greg, ClientId: "introspector", ClientSecret: svc.ClientSecret})
		if err != nil || in.Active {
			t.Errorf("introspect after revoke: %v, %v", in, err)
		}
	})
}

// TestAirflowAcceptsProfiledToken runs Airflow's JWT checks (PyJWT against
// the JWKS, as airflow.api_fastapi.auth.tokens.JWTValidator does) on a
// token issued under the airflow profile.
func TestAirflowAcceptsProfiledToken(t *testing.T) {
	python := pythonWithJWT(t)
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ts.profiledUser(t, "airflow-user", "viewer", "admin")
		ts.putProfile(t, &gatehousev1.PutClaimProfileRequest{Audience: "gatehouse", Builtin: "airflow"})
		token := ts.token(t, "airflow-user", "airflow-user-password")
		cmd := exec.Command(python, filepath.Join("testdata", "airflow_check.py"),
			ts.baseURL+"/.well-known/jwks.json", "http://localhost:8080", "gatehouse")
		cmd.Stdin = strings.NewReader(token) // not in argv: no token in process lists
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("airflow_check.py refused the token: %v\n%s", err, ee.Stderr)
			}
			t.Fatal(err)
		}
		var got struct{ Sub, Role string }
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("airflow_check.py printed %q: %v", out, err)
		}
		if got.Sub != "airflow-user" || got.Role != "admin" {
			t.Errorf("Airflow sees sub %q role %q, want airflow-user and admin", got.Sub, got.Role)
		}
	})
}

// pythonWithJWT finds a python3 that can import PyJWT with its crypto
// backend (Debian: python3-jwt), or skips the test.
func pythonWithJWT(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import jwt, cryptography").Run() == nil {
			return path
		}
	}
	t.Skip("skipping the Airflow check: no python3 that can `import jwt, cryptography` (Debian: apt-get install python3-jwt)")
	return ""
}
