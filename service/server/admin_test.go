package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
)

func TestAdminAuthorization(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		_, secret := seed(t, ts)
		alice := ts.token(t, "alice", "alice-password")
		cc, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "client_credentials", ClientId: "reporter", ClientSecret: secret})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			ctx   context.Context
			admin codes.Code // for AdminService.ListUsers
			look  codes.Code // for AuthService.LookupUser
		}{
			{"no token", context.Background(), codes.Unauthenticated, codes.Unauthenticated},
			{"garbage token", bearer(context.Background(), "garbage"), codes.Unauthenticated, codes.Unauthenticated},
			{"user without admin", bearer(context.Background(), alice), codes.PermissionDenied, codes.PermissionDenied},
			{"client with user-lookup", bearer(context.Background(), cc.AccessToken), codes.PermissionDenied, codes.OK},
			{"admin", ts.adminCtx(t), codes.OK, codes.OK},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := ts.admin.ListUsers(tc.ctx, &gatehousev1.ListUsersRequest{})
				if status.Code(err) != tc.admin {
					t.Errorf("ListUsers: %v, want %v", err, tc.admin)
				}
				_, err = ts.auth.LookupUser(tc.ctx, &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_Username{Username: "alice"}})
				if status.Code(err) != tc.look {
					t.Errorf("LookupUser: %v, want %v", err, tc.look)
				}
			})
		}
	})
}

func TestLookupUser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		aliceID, _ := seed(t, ts)
		ctx := ts.adminCtx(t)
		for _, tc := range []struct {
			name string
			req  *gatehousev1.LookupUserRequest
			code codes.Code
			want string
		}{
			{"by id", &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_Id{Id: aliceID}}, codes.OK, "alice"},
			{"by username", &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_Username{Username: "Alice"}}, codes.OK, "alice"},
			{"by email", &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_Email{Email: "ALICE@example.com"}}, codes.OK, "alice"},
			{"by client id", &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_ClientId{ClientId: "reporter"}}, codes.OK, "reporter"},
			{"unknown", &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_Username{Username: "nobody"}}, codes.NotFound, ""},
			{"no selector", &gatehousev1.LookupUserRequest{}, codes.InvalidArgument, ""},
			{"empty selector", &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_Email{}}, codes.InvalidArgument, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, err := ts.auth.LookupUser(ctx, tc.req)
				if status.Code(err) != tc.code {
					t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tc.code)
				}
				if err == nil {
					a := res.Account
					if name := a.Username + a.ClientId; name != tc.want || !a.Active || a.CreatedAt == nil || a.Id == "" {
						t.Errorf("account = %+v", a)
					}
				}
			})
		}
		// REST: query parameters select; no hash ever appears.
		tok := ts.adminToken(t)
		r := ts.do(t, "GET", "/v1/users:lookup?username=alice", "", "", tok)
		if r.status != 200 {
			t.Fatalf("GET lookup = %d %s", r.status, r.body)
		}
		acct := r.json(t)["account"].(map[string]any)
		if acct["username"] != "alice" || acct["email"] != "alice@example.com" || acct["display_name"] != "Alice" || acct["kind"] != "ACCOUNT_KIND_USER" {
			t.Errorf("account = %v", acct)
		}
		for _, leak := range []string{"argon2", "password", "secret", "hash"} {
			if strings.Contains(strings.ToLower(string(r.body)), leak) {
				t.Errorf("lookup response mentions %q: %s", leak, r.body)
			}
		}
		for path, want := range map[string]int{
			"/v1/users:lookup?username=nobody":            404,
			"/v1/users:lookup":                            400,
			"/v1/users:lookup?username=alice&email=a@b.c": 400,
		} {
			if r := ts.do(t, "GET", path, "", "", tok); r.status != want {
				t.Errorf("GET %s = %d %s, want %d", path, r.status, r.body, want)
			}
		}
		if r := ts.do(t, "GET", "/v1/users:lookup?username=alice", "", "", ""); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("lookup without token = %d %v", r.status, r.header)
		}
	})
}

func TestAdminLifecycleREST(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		tok := ts.adminToken(t)
		r := ts.do(t, "POST", "/v1/admin/users", "application/json", `{"username":"carol","email":"carol@example.com","password":"carol-password","roles":["viewer"]}`, tok)
		if r.status != 200 {
			t.Fatalf("create = %d %s", r.status, r.body)
		}
		id := r.json(t)["id"].(string)
		for _, tc := range []struct {
			name, method, path, body string
			want                     int
		}{
			{"duplicate username", "POST", "/v1/admin/users", `{"username":"CAROL","password":"carol-password"}`, 409},
			{"duplicate email", "POST", "/v1/admin/users", `{"username":"carol2","email":"Carol@example.com"}`, 409},
			{"bad username", "POST", "/v1/admin/users", `{"username":"has space"}`, 400},
			{"short password", "POST", "/v1/admin/users", `{"username":"dave","password":"short"}`, 400},
			{"bad email", "POST", "/v1/admin/users", `{"username":"dave","email":"not-an-email"}`, 400},
			{"bad role", "POST", "/v1/admin/users", `{"username":"dave","roles":["no spaces allowed"]}`, 400},
			{"unknown field", "POST", "/v1/admin/users", `{"username":"dave","is_admin":true}`, 400},
			{"malformed JSON", "POST", "/v1/admin/users", `{"username":`, 400},
			{"invalid UTF-8", "POST", "/v1/admin/users", "{\"username\":\"\xff\xfe\"}", 400},
			{"get", "GET", "/v1/admin/users/" + id, "", 200},
			{"get unknown", "GET", "/v1/admin/users/0190a000-0000-7000-8000-000000000000", "", 404},
			{"update", "PATCH", "/v1/admin/users/" + id, `{"display_name":"Carol C."}`, 200},
			{"set password", "POST", "/v1/admin/users/" + id + ":setPassword", `{"password":"new-carol-password"}`, 200},
			{"disable", "POST", "/v1/admin/users/" + id + ":disable", `{}`, 200},
			{"enable", "POST", "/v1/admin/users/" + id + ":enable", `{}`, 200},
			{"set roles", "PUT", "/v1/admin/accounts/" + id + "/roles", `{"roles":["viewer","editor"]}`, 200},
			{"bad page size", "GET", "/v1/admin/users?page_size=1000", "", 400},
			{"bad page token", "GET", "/v1/admin/users?page_token=zzz", "", 400},
			{"create client", "POST", "/v1/admin/clients", `{"client_id":"etl","roles":["writer"]}`, 200},
			{"duplicate client", "POST", "/v1/admin/clients", `{"client_id":"etl"}`, 409},
			{"delete unknown", "DELETE", "/v1/admin/users/0190a000-0000-7000-8000-000000000000", "", 404},
			{"unknown route", "GET", "/v1/admin/nothing", "", 404},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ct := ""
				if tc.body != "" {
					ct = "application/json"
				}
				r := ts.do(t, tc.method, tc.path, ct, tc.body, tok)
				if r.status != tc.want {
					t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.want)
				}
				if r.status >= 500 {
					t.Errorf("server error for bad input: %s", r.body)
				}
			})
		}
		// The new password works, the roles stuck, the secret is shown once.
		if tok := ts.token(t, "carol", "new-carol-password"); tok == "" {
			t.Error("no token with the new password")
		}
		r = ts.do(t, "GET", "/v1/admin/users/"+id, "", "", tok)
		got := r.json(t)
		if got["display_name"] != "Carol C." || got["active"] != true || fmt.Sprint(got["roles"]) != "[editor viewer]" {
			t.Errorf("after updates: %s", r.body)
		}
		// Pagination: 1 admin + carol + 5 more users, pages of 3.
		for i := range 5 {
			ts.do(t, "POST", "/v1/admin/users", "application/json", `{"username":"user`+string(rune('a'+i))+`"}`, tok)
		}
		var names []string
		pageToken := ""
		for range 10 {
			r := ts.do(t, "GET", "/v1/admin/users?page_size=3&page_token="+pageToken, "", "", tok)
			var page struct {
				Users []struct {
					Username string `json:"username"`
				} `json:"users"`
				NextPageToken string `json:"next_page_token"`
			}
			if err := json.Unmarshal(r.body, &page); err != nil {
				t.Fatal(err)
			}
			for _, u := range page.Users {
				names = append(names, u.Username)
			}
			if pageToken = page.NextPageToken; pageToken == "" {
				break
			}
		}
		if len(names) != 7 || names[0] != "admin" || names[1] != "carol" {
			t.Errorf("paged users = %v", names)
		}
		// Delete: the user is gone and its token is refused.
		carolTok := ts.token(t, "carol", "new-carol-password")
		if r := ts.do(t, "DELETE", "/v1/admin/users/"+id, "", "", tok); r.status != 200 {
			t.Errorf("delete = %d %s", r.status, r.body)
		}
		if r := ts.do(t, "GET", "/v1/admin/users/"+id, "", "", tok); r.status != 404 {
			t.Errorf("get after delete = %d", r.status)
		}
		if r := ts.do(t, "POST", "/v1/token:validate", "application/json", `{"token":"`+carolTok+`"}`, ""); r.status != 401 {
			t.Errorf("deleted user's token = %d %s", r.status, r.body)
		}
	})
}

// TestAuthTokenEndpoint covers the Airflow-compatible POST /auth/token.
func TestAuthTokenEndpoint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		_, secret := seed(t, ts)
		for _, tc := range []struct {
			name, contentType, body string
			want                    int
		}{
			{"password default grant", "application/json", `{"username":"alice","password":"alice-password"}`, 201},
			{"explicit password grant", "application/json; charset=utf-8", `{"grant_type":"password","username":"alice","password":"alice-password"}`, 201},
			{"client credentials", "application/json", `{"grant_type":"client_credentials","client_id":"reporter","client_secret":"` + secret + `"}`, 201},
			{"wrong password", "application/json", `{"username":"alice","password":"nope-nope"}`, 401},
			{"unknown user", "application/json", `{"username":"zed","password":"nope-nope"}`, 401},
			{"wrong secret", "application/json", `{"grant_type":"client_credentials","client_id":"reporter","client_secret":"x"}`, 401},
			{"missing password", "application/json", `{"username":"alice"}`, 400},
			{"malformed JSON", "application/json", `{"username":"alice",`, 400},
			{"not an object", "application/json", `["alice"]`, 400},
			{"unknown field", "application/json", `{"username":"alice","password":"alice-password","admin":true}`, 400},
			{"trailing data", "application/json", `{"username":"alice","password":"alice-password"}{}`, 400},
			{"invalid UTF-8", "application/json", "{\"username\":\"\xff\",\"password\":\"x\"}", 400},
			{"form body", "application/x-www-form-urlencoded", `username=alice&password=alice-password`, 415},
			{"unsupported grant", "application/json", `{"grant_type":"implicit"}`, 400},
			{"huge body", "application/json", `{"username":"` + strings.Repeat("a", 300<<10) + `"}`, 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := ts.do(t, "POST", "/auth/token", tc.contentType, tc.body, "")
				if r.status != tc.want {
					t.Fatalf("status = %d %s, want %d", r.status, r.body, tc.want)
				}
				m := r.json(t)
				if tc.want == 201 {
					tok, _ := m["access_token"].(string)
					if _, err := ts.auth.ValidateToken(context.Background(), &gatehousev1.ValidateTokenRequest{Token: tok}); err != nil {
						t.Errorf("issued token does not validate: %v", err)
					}
					if r.header.Get("Cache-Control") != "no-store" {
						t.Error("token response is cacheable")
					}
				} else if m["detail"] == "" || m["detail"] == nil {
					t.Errorf("error without detail: %s", r.body)
				}
				if tc.want == 401 && r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
	})
}

func TestServiceEndpoints(t *testing.T) {
	ts := startServer(t, "")
	for path, want := range map[string]string{
		"/healthz":      `"ok"`,
		"/readyz":       `"ok"`,
		"/openapi.json": `"openapi":"3.`,
		"/v1/jwks":      `"keys"`,
	} {
		r := ts.do(t, "GET", path, "", "", "")
		if r.status != 200 || !strings.Contains(string(r.body), want) {
			t.Errorf("GET %s = %d %.200s", path, r.status, r.body)
		}
	}
	var doc struct {
		Paths map[string]any `json:"paths"`
	}
	json.Unmarshal(ts.do(t, "GET", "/openapi.json", "", "", "").body, &doc)
	for _, p := range []string{"/v1/token", "/v1/token:validate", "/v1/users:lookup", "/v1/admin/users"} {
		if doc.Paths[p] == nil {
			t.Errorf("OpenAPI document lacks %s", p)
		}
	}
}
