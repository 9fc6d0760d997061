package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestStrictREST sends malformed and mis-declared bodies through the real
// gateway and /auth/token: each is refused with the right status and a
// message free of Go internals, and none has an effect.
func TestStrictREST(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		tok := ts.adminToken(t)
		const user = `{"username":"mallory","password":"mallory-password"}`
		for _, tc := range []struct {
			name, method, path, ct, enc, body string
			want                              int
			msg                               string // fragment of the error message
		}{
			{"text/plain JSON body", "POST", "/v1/admin/users", "text/plain", "", user, 415, "Content-Type"},
			{"form-encoded JSON body", "POST", "/v1/admin/users", "application/x-www-form-urlencoded", "", user, 415, "Content-Type"},
			{"no Content-Type", "POST", "/v1/admin/users", "", "", user, 415, "application/json"},
			{"gzip Content-Encoding", "POST", "/v1/admin/users", "application/json", "gzip", user, 415, "Content-Encoding"},
			{"trailing garbage", "POST", "/v1/admin/users", "application/json", "", user + ` garbage`, 400, "after its JSON value"},
			{"trailing brace", "POST", "/v1/admin/users", "application/json", "", user + `}`, 400, "after its JSON value"},
			{"two concatenated documents", "POST", "/v1/admin/users", "application/json", "", user + `{"username":"mallory2"}`, 400, "after its JSON value"},
			{"array body", "POST", "/v1/admin/users", "application/json", "", `[` + user + `]`, 400, "JSON object"},
			{"bad integer query parameter", "GET", "/v1/admin/users?page_size=abc", "", "", "", 400, "field page_size: not an integer"},
			{"bad integer body field", "POST", "/v1/admin/issuers", "application/json", "", `{"issuer":"https://idp.example","audiences":["x"],"leeway_seconds":"abc"}`, 400, "field leeway_seconds: not an integer"},
			{"string for a boolean", "POST", "/v1/admin/issuers", "application/json", "", `{"issuer":"https://idp.example","audiences":["x"],"jit_provisioning":"yes"}`, 400, "field jit_provisioning: not a boolean"},
			{"unknown field", "POST", "/v1/admin/users", "application/json", "", `{"username":"mallory","is_admin":true}`, 400, `unknown field "is_admin"`},
			{"charset utf-8 accepted", "GET", "/v1/admin/users?page_size=1", "application/json; charset=utf-8", "", "", 200, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := ts.doHeaders(t, tc.method, tc.path, tc.ct, tc.enc, tc.body, tok)
				if r.status != tc.want {
					t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.want)
				}
				if tc.want < 300 {
					return
				}
				msg, _ := r.json(t)["message"].(string)
				if !strings.Contains(msg, tc.msg) {
					t.Errorf("message %q, want it to contain %q", msg, tc.msg)
				}
				for _, leak := range []string{"strconv", "ParseInt", "proto:", "json:", "(line "} {
					if strings.Contains(msg, leak) {
						t.Errorf("message %q leaks %q", msg, leak)
					}
				}
			})
		}
		// None of the refused requests created anything.
		if r := ts.do(t, "GET", "/v1/users:lookup?username=mallory", "", "", tok); r.status != 404 {
			t.Errorf("mallory exists after refused requests: %d %s", r.status, r.body)
		}
		if r := ts.do(t, "GET", "/v1/admin/issuers", "", "", tok); r.status != 200 || strings.Contains(string(r.body), "idp.example") {
			t.Errorf("an issuer was created by a refused request: %d %s", r.status, r.body)
		}

		t.Run("auth token", func(t *testing.T) {
			for _, tc := range []struct {
				name, ct, enc, body string
				want                int
			}{
				{"text/plain", "text/plain", "", `{"username":"admin","password":"` + ts.adminPW + `"}`, 415},
				{"form", "application/x-www-form-urlencoded", "", "username=admin&password=" + ts.adminPW, 415},
				{"gzip", "application/json", "gzip", `{"username":"admin","password":"` + ts.adminPW + `"}`, 415},
				{"trailing data", "application/json", "", `{"username":"admin","password":"` + ts.adminPW + `"} x`, 400},
				{"two documents", "application/json", "", `{"username":"admin"}{"password":"` + ts.adminPW + `"}`, 400},
				{"JSON", "application/json; charset=utf-8", "", `{"username":"admin","password":"` + ts.adminPW + `"}`, 201},
			} {
				r := ts.doHeaders(t, "POST", "/auth/token", tc.ct, tc.enc, tc.body, "")
				if r.status != tc.want {
					t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.want)
				}
				if _, ok := r.json(t)["access_token"]; ok != (tc.want == 201) {
					t.Errorf("%s: access_token present %v: %s", tc.name, ok, r.body)
				}
			}
		})

		t.Run("taken email", func(t *testing.T) {
			if r := ts.do(t, "POST", "/v1/admin/users", "application/json", `{"username":"erin","email":"erin@example.com"}`, tok); r.status != 200 {
				t.Fatalf("create erin: %d %s", r.status, r.body)
			}
			for _, tc := range []struct{ body, field string }{
				{`{"username":"erin2","email":"erin@EXAMPLE.com"}`, "email"},
				{`{"username":"ERIN","email":"erin3@example.com"}`, "username"},
			} {
				r := ts.do(t, "POST", "/v1/admin/users", "application/json", tc.body, tok)
				msg, _ := r.json(t)["message"].(string)
				if r.status != 409 || msg != tc.field+" is taken" {
					t.Errorf("%s: %d %q, want 409 %q", tc.body, r.status, msg, tc.field+" is taken")
				}
			}
			// The same over UpdateUser.
			r := ts.do(t, "POST", "/v1/admin/users", "application/json", `{"username":"frank","email":"frank@example.com"}`, tok)
			id, _ := r.json(t)["id"].(string)
			r = ts.do(t, "PATCH", "/v1/admin/users/"+id, "application/json", `{"email":"erin@example.com"}`, tok)
			if msg, _ := r.json(t)["message"].(string); r.status != 409 || msg != "email is taken" {
				t.Errorf("update to a taken email: %d %s", r.status, r.body)
			}
		})
	})
}

// TestPRECISNames checks RFC 8265 username canonicalisation at creation,
// login and lookup over gRPC, and look-alike refusals.
func TestPRECISNames(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := ts.adminCtx(t)
		create := func(username, email string) (*gatehousev1.Account, error) {
			return ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: username, Email: email, Password: "long-enough-password"})
		}
		login := func(username, password string) codes.Code {
			_, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: username, Password: password})
			return status.Code(err)
		}

		a, err := create("Alice", "")
		if err != nil || a.Username != "alice" {
			t.Fatalf("create Alice: %v, %v; want stored as alice", a.GetUsername(), err)
		}
		for _, name := range []string{"alice", "ALICE", "ａｌｉｃｅ"} {
			if c := login(name, "long-enough-password"); c != codes.OK {
				t.Errorf("login as %q: %v, want OK", name, c)
			}
		}
		if _, err := create("alice", ""); status.Code(err) != codes.AlreadyExists {
			t.Errorf("second alice: %v, want AlreadyExists", err)
		}

		// Full-width letters are width-mapped by the profile: the same name
		// as the bootstrap admin, so no second "admin".
		if _, err := create("ａｄｍｉｎ", ""); status.Code(err) != codes.AlreadyExists || !strings.Contains(status.Convert(err).Message(), "username is taken") {
			t.Errorf("full-width admin: %v, want AlreadyExists: username is taken", err)
		}
		// U+0130 is not folded to "i" (strings.ToLower did): refused.
		if _, err := create("ADM\u0130N", ""); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ADMİN: %v, want InvalidArgument", err)
		}
		// Cyrillic а (U+0430) among Latin letters: refused as mixed script.
		if _, err := create("\u0430dmin", ""); status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "Cyrillic") {
			t.Errorf("Cyrillic аdmin: %v, want InvalidArgument naming the scripts", err)
		}
		// Neither look-alike logs in as admin, even with its password.
		for _, name := range []string{"ADM\u0130N", "\u0430dmin", "adm\u0131n"} {
			if c := login(name, ts.adminPW); c != codes.Unauthenticated {
				t.Errorf("login as %q with the admin password: %v, want Unauthenticated", name, c)
			}
		}
		if c := login("ＡＤＭＩＮ", ts.adminPW); c != codes.OK {
			t.Errorf("full-width ADMIN with the admin password: %v, want OK (the profile maps it to admin)", c)
		}

		// The Kelvin sign is canonically equivalent to K: the same account.
		k, err := create("\u212Aelvin", "")
		if err != nil || k.Username != "kelvin" {
			t.Fatalf("create Kelvin-sign name: %v, %v; want kelvin", k.GetUsername(), err)
		}
		if _, err := create("kelvin", ""); status.Code(err) != codes.AlreadyExists {
			t.Errorf("kelvin after Kelvin-sign kelvin: %v, want AlreadyExists", err)
		}
		if c := login("Kelvin", "long-enough-password"); c != codes.OK {
			t.Errorf("login as Kelvin: %v", c)
		}

		// Emails: domain lower-cased and IDNA-mapped to punycode, local part
		// with ASCII letters lower-cased only; mixed-script look-alikes refused.
		h, err := create("hans", "Hans@BÜCHER.de")
		if err != nil || h.Email != "hans@xn--bcher-kva.de" {
			t.Fatalf("create hans: %v, %v; want hans@xn--bcher-kva.de", h.GetEmail(), err)
		}
		got, err := ts.auth.LookupUser(ctx, &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_Email{Email: "HANS@bücher.DE"}})
		if err != nil || got.GetAccount().GetId() != h.Id {
			t.Errorf("lookup by the Unicode form of the email: %v", err)
		}
		got, err = ts.auth.LookupUser(ctx, &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_Username{Username: "ＨＡＮＳ"}})
		if err != nil || got.GetAccount().GetId() != h.Id {
			t.Errorf("lookup by full-width username: %v", err)
		}
		if _, err := ts.auth.LookupUser(ctx, &gatehousev1.LookupUserRequest{Selector: &gatehousev1.LookupUserRequest_Username{Username: "ADM\u0130N"}}); status.Code(err) != codes.NotFound {
			t.Errorf("lookup of ADMİN: %v, want NotFound", err)
		}
		for _, email := range []string{"paypal@ex\u0430mple.com", "p\u0430ypal@example.com", "x@xn--exmple-4nf.com"} {
			if _, err := create("mixed", email); status.Code(err) != codes.InvalidArgument {
				t.Errorf("email %q: %v, want InvalidArgument", email, err)
			}
		}
	})
}

// TestCanonicaliseStoredNames: rows written under the old rules are
// rewritten to their canonical form once, collisions are left with a WARN
// naming both accounts, and the server does it at start.
func TestCanonicaliseStoredNames(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := b.DSN(t)
			st, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			hasher, err := secrets.NewHasher(secrets.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
			if err != nil {
				t.Fatal(err)
			}
			hash, err := hasher.Hash("old-row-password")
			if err != nil {
				t.Fatal(err)
			}
			ids := map[string]string{}
			insert := func(username, email string) {
				t.Helper()
				a, err := st.CreateAccount(ctx, store.Account{ID: uuid.NewString(), Kind: store.KindUser, Username: username, Email: email, Active: true, PasswordHash: hash})
				if err != nil {
					t.Fatalf("insert %q: %v", username, err)
				}
				ids[username] = a.ID
			}
			insert("Bob", "Bob@BÜCHER.de")
			insert("Ｄａｖｅ", "")
			insert("Carol", "")
			insert("carol", "")
			insert("ADM\u0130N", "") // no canonical form under the ASCII policy
			insert("admin", "")

			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			rules := store.NameRules{Username: core.CanonicalUsername, Email: core.CanonicalEmail}
			n, err := st.CanonicaliseNames(ctx, rules, log)
			if err != nil || n != 3 {
				t.Fatalf("first run: %d changed, %v; want 3 (Bob's name and email, Dave)", n, err)
			}
			for name, want := range map[string]string{"bob": ids["Bob"], "dave": ids["Ｄａｖｅ"], "Carol": ids["Carol"], "carol": ids["carol"], "ADM\u0130N": ids["ADM\u0130N"], "admin": ids["admin"]} {
				a, err := st.GetAccount(ctx, store.AccountKey{Username: name})
				if err != nil || a.ID != want {
					t.Errorf("after migration, %q: %v %v, want account %s", name, a.ID, err, want)
				}
			}
			if a, _ := st.GetAccount(ctx, store.AccountKey{ID: ids["Bob"]}); a.Email != "bob@xn--bcher-kva.de" {
				t.Errorf("Bob's email = %q, want bob@xn--bcher-kva.de", a.Email)
			}
			var warned bool
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if rec["level"] == "WARN" && rec["canonical"] == "carol" {
					accts, _ := json.Marshal(rec["accounts"])
					warned = strings.Contains(string(accts), ids["Carol"]) && strings.Contains(string(accts), ids["carol"])
				}
			}
			if !warned {
				t.Errorf("no WARN naming both carol accounts:\n%s", logs.String())
			}
			if n, err := st.CanonicaliseNames(ctx, rules, log); err != nil || n != 0 {
				t.Errorf("second run: %d changed, %v; want 0 (idempotent)", n, err)
			}

			// An old row added later is fixed by the server at start.
			insert("Eve", "")
			st.Close()
			ts := startServer(t, dsn)
			if c := ts.loginCode("eve", "old-row-password"); c != codes.OK {
				t.Errorf("login as eve after the server migrated: %v", c)
			}
			a, err := ts.app.Core().FindAccount(ctx, store.KindUser, "eve")
			if err != nil || a.ID != ids["Eve"] || a.Username != "eve" {
				t.Errorf("eve after start: %+v %v", a, err)
			}
		})
	}
}

func (ts *testServer) loginCode(username, password string) codes.Code {
	_, err := ts.auth.IssueToken(context.Background(), &gatehousev1.IssueTokenRequest{GrantType: "password", Username: username, Password: password})
	return status.Code(err)
}
