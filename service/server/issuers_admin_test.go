package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

const azureV1Issuer = "https://sts.windows.net/0b1f7c2e-1111-2222-3333-444455556666/"

// checkDefaults fails unless ti carries the documented defaults.
func checkDefaults(t *testing.T, ti *gatehousev1.TrustedIssuer) {
	t.Helper()
	if !slices.Equal(ti.AllowedAlgs, []string{"RS256"}) || ti.LeewaySeconds != 60 ||
		!slices.Equal(ti.RequiredClaims, []string{"exp", "iat"}) ||
		!slices.Equal(ti.IdentityClaims, []string{"email", "preferred_username", "upn", "appid", "azp"}) ||
		!slices.Equal(ti.GroupClaims, []string{"groups", "roles"}) || ti.JitProvisioning || len(ti.RoleMap) != 0 ||
		ti.LinkBy != "none" || len(ti.ExchangeClients) != 0 {
		t.Errorf("defaults not filled in: %v", ti)
	}
	if uuid.Validate(ti.Id) != nil || ti.CreatedAt == nil || ti.UpdatedAt == nil {
		t.Errorf("id or timestamps missing: %v", ti)
	}
}

func TestTrustedIssuersGRPC(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := ts.adminCtx(t)

		// Only issuer and audience: everything else is defaulted, the
		// issuer string is kept exactly (trailing slash included).
		minimal, err := ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: &gatehousev1.TrustedIssuer{
			Issuer: azureV1Issuer, Audiences: []string{"api://gatehouse"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		checkDefaults(t, minimal)
		if minimal.Issuer != azureV1Issuer || minimal.JwksUri != "" || !slices.Equal(minimal.Audiences, []string{"api://gatehouse"}) {
			t.Errorf("minimal = %v", minimal)
		}

		// Every field set; the id in the body is ignored; role_map comes back sorted by group.
		full := &gatehousev1.TrustedIssuer{
			Id:             "chosen-by-client",
			Issuer:         "https://sso.example.com/realms/corp",
			JwksUri:        "https://sso.example.com/realms/corp/protocol/openid-connect/certs",
			Audiences:      []string{"gatehouse", "account"},
			AllowedAlgs:    []string{"ES256", "RS256", "EdDSA", "PS256", "ES384", "RS512", "PS512", "ES512", "RS384", "PS384"},
			LeewaySeconds:  300,
			RequiredClaims: []string{"exp", "iat", "nbf"},
			IdentityClaims: []string{"preferred_username"},
			GroupClaims:    []string{"groups"},
			RoleMap: []*gatehousev1.RoleMapping{
				{Group: "/staff/ops", Roles: []string{"admin"}},
				{Group: "/staff", Roles: []string{"viewer", "editor"}},
			},
			JitProvisioning: true,
			LinkBy:          "verified_email",
			ExchangeClients: []string{"reporter", "etl"},
		}
		kc, err := ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: full})
		if err != nil {
			t.Fatal(err)
		}
		want := proto.Clone(full).(*gatehousev1.TrustedIssuer)
		want.Id, want.CreatedAt, want.UpdatedAt = kc.Id, kc.CreatedAt, kc.UpdatedAt
		want.RoleMap[0], want.RoleMap[1] = want.RoleMap[1], want.RoleMap[0]
		if !proto.Equal(kc, want) || uuid.Validate(kc.Id) != nil {
			t.Errorf("created = %v\nwant %v", kc, want)
		}

		// A different string is a different issuer, even if only a slash apart.
		noSlash, err := ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: &gatehousev1.TrustedIssuer{
			Issuer: azureV1Issuer[:len(azureV1Issuer)-1], Audiences: []string{"x"},
		}})
		if err != nil {
			t.Fatalf("issuer without the trailing slash: %v", err)
		}
		if _, err := ts.admin.DeleteTrustedIssuer(ctx, &gatehousev1.DeleteTrustedIssuerRequest{Id: noSlash.Id}); err != nil {
			t.Fatal(err)
		}

		list, err := ts.admin.ListTrustedIssuers(ctx, &gatehousev1.ListTrustedIssuersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Issuers) != 2 || !proto.Equal(list.Issuers[0], kc) || !proto.Equal(list.Issuers[1], minimal) {
			t.Fatalf("list = %v", list.Issuers)
		}

		// Update replaces every field: what is not given returns to its default.
		ts.clock.Advance(2 * time.Second)
		upd, err := ts.admin.UpdateTrustedIssuer(ctx, &gatehousev1.UpdateTrustedIssuerRequest{Id: kc.Id, Issuer: &gatehousev1.TrustedIssuer{
			Issuer: "https://sso.example.com/realms/staff", Audiences: []string{"gatehouse"}, LeewaySeconds: 10,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if upd.Id != kc.Id || upd.Issuer != "https://sso.example.com/realms/staff" || upd.JwksUri != "" || upd.LeewaySeconds != 10 ||
			!slices.Equal(upd.AllowedAlgs, []string{"RS256"}) || len(upd.RoleMap) != 0 || upd.JitProvisioning ||
			!upd.CreatedAt.AsTime().Equal(kc.CreatedAt.AsTime()) || !upd.UpdatedAt.AsTime().After(kc.UpdatedAt.AsTime()) {
			t.Errorf("updated = %v", upd)
		}

		// Duplicates, unknown ids.
		_, err = ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: &gatehousev1.TrustedIssuer{Issuer: azureV1Issuer, Audiences: []string{"y"}}})
		if status.Code(err) != codes.AlreadyExists {
			t.Errorf("duplicate create: %v", err)
		}
		_, err = ts.admin.UpdateTrustedIssuer(ctx, &gatehousev1.UpdateTrustedIssuerRequest{Id: kc.Id, Issuer: &gatehousev1.TrustedIssuer{Issuer: azureV1Issuer, Audiences: []string{"y"}}})
		if status.Code(err) != codes.AlreadyExists {
			t.Errorf("update onto another issuer: %v", err)
		}
		_, err = ts.admin.UpdateTrustedIssuer(ctx, &gatehousev1.UpdateTrustedIssuerRequest{Id: uuid.NewString(), Issuer: &gatehousev1.TrustedIssuer{Issuer: "https://a.example.com", Audiences: []string{"y"}}})
		if status.Code(err) != codes.NotFound {
			t.Errorf("update unknown: %v", err)
		}
		_, err = ts.admin.DeleteTrustedIssuer(ctx, &gatehousev1.DeleteTrustedIssuerRequest{Id: uuid.NewString()})
		if status.Code(err) != codes.NotFound {
			t.Errorf("delete unknown: %v", err)
		}
		_, err = ts.admin.DeleteTrustedIssuer(ctx, &gatehousev1.DeleteTrustedIssuerRequest{})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("delete without id: %v", err)
		}
		_, err = ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("create without a body: %v", err)
		}

		// Delete.
		if _, err := ts.admin.DeleteTrustedIssuer(ctx, &gatehousev1.DeleteTrustedIssuerRequest{Id: kc.Id}); err != nil {
			t.Fatal(err)
		}
		list, err = ts.admin.ListTrustedIssuers(ctx, &gatehousev1.ListTrustedIssuersRequest{})
		if err != nil || len(list.Issuers) != 1 || list.Issuers[0].Id != minimal.Id {
			t.Fatalf("list after delete = %v, %v", list, err)
		}
	})
}

func TestTrustedIssuersREST(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		tok := ts.adminToken(t)
		decode := func(r httpResult) *gatehousev1.TrustedIssuer {
			t.Helper()
			var ti gatehousev1.TrustedIssuer
			if err := protojson.Unmarshal(r.body, &ti); err != nil {
				t.Fatalf("not a TrustedIssuer (%v): %s", err, r.body)
			}
			return &ti
		}

		r := ts.do(t, "POST", "/v1/admin/issuers", "application/json", `{"issuer":"`+azureV1Issuer+`","audiences":["api://gatehouse"]}`, tok)
		if r.status != 200 {
			t.Fatalf("POST = %d %s", r.status, r.body)
		}
		created := decode(r)
		checkDefaults(t, created)
		if m := r.json(t); m["leeway_seconds"] == nil || m["identity_claims"] == nil {
			t.Errorf("REST uses the proto field names: %s", r.body)
		}

		r = ts.do(t, "GET", "/v1/admin/issuers", "", "", tok)
		var list gatehousev1.ListTrustedIssuersResponse
		if err := protojson.Unmarshal(r.body, &list); r.status != 200 || err != nil || len(list.Issuers) != 1 || !proto.Equal(list.Issuers[0], created) {
			t.Fatalf("GET = %d %s (%v)", r.status, r.body, err)
		}

		body := `{"issuer":"https://login.microsoftonline.com/0b1f7c2e-1111-2222-3333-444455556666/v2.0","audiences":["11111111-2222-3333-4444-555555555555"],` +
			`"allowed_algs":["RS256"],"leeway_seconds":"120","role_map":[{"group":"b","roles":["viewer"]},{"group":"a","roles":["admin","viewer"]}],"jit_provisioning":true}`
		r = ts.do(t, "PUT", "/v1/admin/issuers/"+created.Id, "application/json", body, tok)
		if r.status != 200 {
			t.Fatalf("PUT = %d %s", r.status, r.body)
		}
		upd := decode(r)
		if upd.Id != created.Id || upd.LeewaySeconds != 120 || !upd.JitProvisioning || len(upd.RoleMap) != 2 ||
			upd.RoleMap[0].Group != "a" || !slices.Equal(upd.RoleMap[0].Roles, []string{"admin", "viewer"}) || upd.RoleMap[1].Group != "b" ||
			!slices.Equal(upd.GroupClaims, []string{"groups", "roles"}) {
			t.Errorf("updated = %v", upd)
		}

		for _, tc := range []struct {
			method, path, body string
			want               int
		}{
			{"POST", "/v1/admin/issuers", `{"issuer":"https://login.microsoftonline.com/0b1f7c2e-1111-2222-3333-444455556666/v2.0","audiences":["x"]}`, 409},
			{"PUT", "/v1/admin/issuers/" + uuid.NewString(), `{"issuer":"https://a.example.com","audiences":["x"]}`, 404},
			{"DELETE", "/v1/admin/issuers/" + uuid.NewString(), ``, 404},
			{"POST", "/v1/admin/issuers", `{"issuer":"https://a.example.com","audiences":["x"],"nonsense":1}`, 400},
			{"POST", "/v1/admin/issuers", `{"issuer":"https://a.example.com","audiences":["x"],"leeway_seconds":"99999999999999999"}`, 400},
			{"POST", "/v1/admin/issuers", `{"issuer":"https://a.example.com","audiences":["x"],"leeway_seconds":"-9223372036854775808"}`, 400},
			{"POST", "/v1/admin/issuers", `{"issuer":"https://a.example.com","audiences":["x"],"role_map":[{"group":"g","roles":["viewer"]},{"group":"g","roles":["admin"]}]}`, 400},
		} {
			if r := ts.do(t, tc.method, tc.path, "application/json", tc.body, tok); r.status != tc.want {
				t.Errorf("%s %s %s = %d %s, want %d", tc.method, tc.path, tc.body, r.status, r.body, tc.want)
			}
		}

		r = ts.do(t, "DELETE", "/v1/admin/issuers/"+created.Id, "", "", tok)
		if r.status != 200 || string(r.body) != "{}" {
			t.Fatalf("DELETE = %d %s", r.status, r.body)
		}
		if r := ts.do(t, "GET", "/v1/admin/issuers", "", "", tok); r.status != 200 || string(r.body) != `{"issuers":[]}` && string(r.body) != `{}` {
			t.Errorf("GET after delete = %d %s", r.status, r.body)
		}
	})
}

func TestTrustedIssuerValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := ts.adminCtx(t)
		tok := ts.adminToken(t)
		valid := func(edit func(ti *gatehousev1.TrustedIssuer)) *gatehousev1.TrustedIssuer {
			ti := &gatehousev1.TrustedIssuer{Issuer: "https://idp.example.com", Audiences: []string{"gatehouse"}}
			edit(ti)
			return ti
		}
		existing, err := ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: valid(func(*gatehousev1.TrustedIssuer) {})})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			edit func(ti *gatehousev1.TrustedIssuer)
		}{
			{"empty issuer", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "" }},
			{"unknown link_by", func(ti *gatehousev1.TrustedIssuer) { ti.LinkBy = "email" }},
			{"empty exchange client", func(ti *gatehousev1.TrustedIssuer) { ti.ExchangeClients = []string{"reporter", ""} }},
			{"http issuer, not loopback", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "http://idp.example.com" }},
			{"http issuer, private address", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "http://10.0.0.1/realms/x" }},
			{"relative issuer", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "sts.windows.net/tenant/" }},
			{"issuer with query", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "https://idp.example.com/?tenant=x" }},
			{"issuer with fragment", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "https://idp.example.com/#x" }},
			{"issuer with user info", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "https://user:pw@idp.example.com" }},
			{"issuer with a space", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "https://idp.example.com/a b" }},
			{"ftp issuer", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "ftp://idp.example.com" }},
			{"own issuer", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "http://localhost:8080" }},
			{"own issuer with a slash", func(ti *gatehousev1.TrustedIssuer) { ti.Issuer = "http://localhost:8080/" }},
			{"http jwks_uri", func(ti *gatehousev1.TrustedIssuer) { ti.JwksUri = "http://idp.example.com/keys" }},
			{"relative jwks_uri", func(ti *gatehousev1.TrustedIssuer) { ti.JwksUri = "/keys" }},
			{"no audience", func(ti *gatehousev1.TrustedIssuer) { ti.Audiences = nil }},
			{"empty audience", func(ti *gatehousev1.TrustedIssuer) { ti.Audiences = []string{"gatehouse", ""} }},
			{"alg none", func(ti *gatehousev1.TrustedIssuer) { ti.AllowedAlgs = []string{"none"} }},
			{"alg HS256", func(ti *gatehousev1.TrustedIssuer) { ti.AllowedAlgs = []string{"RS256", "HS256"} }},
			{"alg lower case", func(ti *gatehousev1.TrustedIssuer) { ti.AllowedAlgs = []string{"rs256"} }},
			{"alg HS512", func(ti *gatehousev1.TrustedIssuer) { ti.AllowedAlgs = []string{"HS512"} }},
			{"alg ES256K", func(ti *gatehousev1.TrustedIssuer) { ti.AllowedAlgs = []string{"ES256K"} }},
			{"negative leeway", func(ti *gatehousev1.TrustedIssuer) { ti.LeewaySeconds = -1 }},
			{"leeway over 300", func(ti *gatehousev1.TrustedIssuer) { ti.LeewaySeconds = 301 }},
			{"required claims without exp", func(ti *gatehousev1.TrustedIssuer) { ti.RequiredClaims = []string{"iat"} }},
			{"huge leeway", func(ti *gatehousev1.TrustedIssuer) { ti.LeewaySeconds = 1 << 62 }},
			{"empty required claim", func(ti *gatehousev1.TrustedIssuer) { ti.RequiredClaims = []string{""} }},
			{"empty identity claim", func(ti *gatehousev1.TrustedIssuer) { ti.IdentityClaims = []string{"email", ""} }},
			{"empty group claim", func(ti *gatehousev1.TrustedIssuer) { ti.GroupClaims = []string{""} }},
			{"bad role name", func(ti *gatehousev1.TrustedIssuer) {
				ti.RoleMap = []*gatehousev1.RoleMapping{{Group: "g", Roles: []string{"bad role"}}}
			}},
			{"empty group", func(ti *gatehousev1.TrustedIssuer) {
				ti.RoleMap = []*gatehousev1.RoleMapping{{Group: "", Roles: []string{"viewer"}}}
			}},
			{"group without roles", func(ti *gatehousev1.TrustedIssuer) { ti.RoleMap = []*gatehousev1.RoleMapping{{Group: "g"}} }},
			{"group twice", func(ti *gatehousev1.TrustedIssuer) {
				ti.RoleMap = []*gatehousev1.RoleMapping{{Group: "g", Roles: []string{"a"}}, {Group: "g", Roles: []string{"b"}}}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ti := valid(tc.edit)
				_, err := ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: ti})
				if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() == "" {
					t.Errorf("gRPC create: %v, want INVALID_ARGUMENT", err)
				}
				_, err = ts.admin.UpdateTrustedIssuer(ctx, &gatehousev1.UpdateTrustedIssuerRequest{Id: existing.Id, Issuer: ti})
				if status.Code(err) != codes.InvalidArgument {
					t.Errorf("gRPC update: %v, want INVALID_ARGUMENT", err)
				}
				body, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(ti)
				if err != nil {
					t.Fatal(err)
				}
				r := ts.do(t, "POST", "/v1/admin/issuers", "application/json", string(body), tok)
				if r.status != 400 || r.json(t)["code"] != float64(codes.InvalidArgument) {
					t.Errorf("REST create %s = %d %s, want 400", body, r.status, r.body)
				}
				r = ts.do(t, "PUT", "/v1/admin/issuers/"+existing.Id, "application/json", string(body), tok)
				if r.status != 400 {
					t.Errorf("REST update %s = %d %s, want 400", body, r.status, r.body)
				}
			})
		}
		// Loopback http issuers and JWKS URLs are fine (local IdPs in tests and development).
		for i, iss := range []string{"http://127.0.0.1:9000/realms/dev", "http://127.9.9.9", "http://[::1]:8443/", "http://localhost:9999/realms/dev", "http://LOCALHOST:1"} {
			_, err := ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: &gatehousev1.TrustedIssuer{
				Issuer: iss, Audiences: []string{"gatehouse"}, JwksUri: fmt.Sprintf("http://127.0.0.1:%d/keys", 9000+i),
				LeewaySeconds: 300, AllowedAlgs: []string{"ES256", "EdDSA", "RS256"},
			}})
			if err != nil {
				t.Errorf("create %s: %v", iss, err)
			}
		}
		// Nothing invalid was stored, and the existing issuer is unchanged.
		list, err := ts.admin.ListTrustedIssuers(ctx, &gatehousev1.ListTrustedIssuersRequest{})
		if err != nil || len(list.Issuers) != 6 {
			t.Fatalf("list = %v, %v", list, err)
		}
		for _, ti := range list.Issuers {
			if ti.Id == existing.Id && !proto.Equal(ti, existing) {
				t.Errorf("a refused update changed the issuer: %v", ti)
			}
		}
	})
}

func TestTrustedIssuersNeedAdmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		seed(t, ts)
		alice := ts.token(t, "alice", "alice-password")
		existing, err := ts.admin.CreateTrustedIssuer(ts.adminCtx(t), &gatehousev1.CreateTrustedIssuerRequest{Issuer: &gatehousev1.TrustedIssuer{Issuer: "https://idp.example.com", Audiences: []string{"x"}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, who := range []struct {
			name  string
			ctx   context.Context
			token string
			code  codes.Code
			http  int
		}{
			{"user without admin", bearer(context.Background(), alice), alice, codes.PermissionDenied, 403},
			{"no token", context.Background(), "", codes.Unauthenticated, 401},
		} {
			t.Run(who.name, func(t *testing.T) {
				ti := &gatehousev1.TrustedIssuer{Issuer: "https://other.example.com", Audiences: []string{"x"}}
				calls := map[string]error{}
				_, calls["create"] = ts.admin.CreateTrustedIssuer(who.ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: ti})
				_, calls["list"] = ts.admin.ListTrustedIssuers(who.ctx, &gatehousev1.ListTrustedIssuersRequest{})
				_, calls["update"] = ts.admin.UpdateTrustedIssuer(who.ctx, &gatehousev1.UpdateTrustedIssuerRequest{Id: existing.Id, Issuer: ti})
				_, calls["delete"] = ts.admin.DeleteTrustedIssuer(who.ctx, &gatehousev1.DeleteTrustedIssuerRequest{Id: existing.Id})
				for name, err := range calls {
					if status.Code(err) != who.code {
						t.Errorf("%s: %v, want %v", name, err, who.code)
					}
				}
				body, _ := json.Marshal(map[string]any{"issuer": "https://other.example.com", "audiences": []string{"x"}})
				for _, req := range [][2]string{{"POST", "/v1/admin/issuers"}, {"GET", "/v1/admin/issuers"}, {"PUT", "/v1/admin/issuers/" + existing.Id}, {"DELETE", "/v1/admin/issuers/" + existing.Id}} {
					b := ""
					if req[0] == "POST" || req[0] == "PUT" {
						b = string(body)
					}
					if r := ts.do(t, req[0], req[1], "application/json", b, who.token); r.status != who.http {
						t.Errorf("%s %s = %d %s, want %d", req[0], req[1], r.status, r.body, who.http)
					}
				}
			})
		}
		list, err := ts.admin.ListTrustedIssuers(ts.adminCtx(t), &gatehousev1.ListTrustedIssuersRequest{})
		if err != nil || len(list.Issuers) != 1 || !proto.Equal(list.Issuers[0], existing) {
			t.Errorf("issuers after refused calls = %v, %v", list, err)
		}
	})
}
