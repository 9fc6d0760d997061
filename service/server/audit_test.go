package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// auditServer is a test server whose audit log lines are kept.
func auditServer(t *testing.T, dsn string) (*testServer, *lockedBuffer) {
	lines := &lockedBuffer{}
	return startServer(t, dsn, func(c *server.Config) { c.AuditLog = lines }), lines
}

// allAudit returns every stored audit event, newest first.
func (ts *testServer) allAudit(t *testing.T) []*gatehousev1.AuditEvent {
	t.Helper()
	var out []*gatehousev1.AuditEvent
	ctx := ts.adminCtx(t)
	req := &gatehousev1.ListAuditEventsRequest{PageSize: 500}
	for {
		res, err := ts.admin.ListAuditEvents(ctx, req)
		if err != nil {
			t.Fatalf("ListAuditEvents: %v", err)
		}
		out = append(out, res.Events...)
		if res.NextPageToken == "" {
			return out
		}
		req.PageToken = res.NextPageToken
	}
}

func withRequestID(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-request-id", id)
}

// TestAuditAdminRPCs: every admin RPC over gRPC leaves exactly its audit
// events, naming the admin, the target, the request id and the client IP,
// and a change that fails leaves none.
func TestAuditAdminRPCs(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			testAuditAdminRPCs(t, b.DSN(t))
		})
	}
}

func testAuditAdminRPCs(t *testing.T, dsn string) {
	ts, lines := auditServer(t, dsn)
	adminTok := ts.adminToken(t)
	v, err := ts.validate(adminTok)
	if err != nil {
		t.Fatal(err)
	}
	adminID := v.Principal.Subject
	ctx := bearer(context.Background(), adminTok)
	idp := fakeidp.New(t, fakeidp.WithClock(ts.clock.Now))

	// Values the steps share; secrets are collected to look for later.
	var bobID, carolID, clientID, sessionID, issuerID, oldKid string
	secrets := []string{ts.adminPW, adminTok, "bob-password-one", "bob-password-two"}
	subject := idp.Tenant() + ":o-bob"

	type step struct {
		name  string
		call  func(ctx context.Context) error
		types []string      // sorted; nil: the call fails and leaves nothing
		tgt   func() string // the target of every event ("" skips the check)
		check func(ev []*gatehousev1.AuditEvent) error
	}
	steps := []step{
		{name: "create user", types: []string{"user.created"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				a, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "bob", Email: "bob@example.com", Password: "bob-password-one", Roles: []string{"viewer"}})
				bobID = a.GetId()
				return err
			}},
		{name: "create user with a taken name",
			call: func(ctx context.Context) error {
				_, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "bob", Password: "bob-password-one"})
				return err
			}},
		{name: "create another user", types: []string{"user.created"}, tgt: func() string { return carolID },
			call: func(ctx context.Context) error {
				a, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "carol", Email: "carol@example.com"})
				carolID = a.GetId()
				return err
			}},
		{name: "update user", types: []string{"user.updated"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.UpdateUser(ctx, &gatehousev1.UpdateUserRequest{Id: bobID, Email: strPtr("bob@example.org")})
				return err
			}},
		{name: "update user to a taken email (fails in the transaction)",
			call: func(ctx context.Context) error {
				_, err := ts.admin.UpdateUser(ctx, &gatehousev1.UpdateUserRequest{Id: bobID, Email: strPtr("carol@example.com")})
				return err
			}},
		{name: "disable user", types: []string{"user.disabled"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: bobID})
				return err
			}},
		{name: "disable a missing user",
			call: func(ctx context.Context) error {
				_, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: "01890000-0000-7000-8000-000000000000"})
				return err
			}},
		{name: "enable user", types: []string{"user.enabled"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.EnableUser(ctx, &gatehousev1.EnableUserRequest{Id: bobID})
				return err
			}},
		{name: "set password", types: []string{"user.password_set"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.SetPassword(ctx, &gatehousev1.SetPasswordRequest{Id: bobID, Password: "bob-password-two"})
				return err
			}},
		{name: "set a too short password",
			call: func(ctx context.Context) error {
				_, err := ts.admin.SetPassword(ctx, &gatehousev1.SetPasswordRequest{Id: bobID, Password: "x"})
				return err
			}},
		{name: "set roles", types: []string{"user.roles_changed"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.SetRoles(ctx, &gatehousev1.SetRolesRequest{Id: bobID, Roles: []string{"editor", "viewer"}})
				return err
			},
			check: func(ev []*gatehousev1.AuditEvent) error {
				if d := ev[0].Detail; d["roles"] != "editor,viewer" || d["previous"] != "viewer" {
					return fmt.Errorf("detail %v", d)
				}
				return nil
			}},
		{name: "unlock account", types: []string{"user.unlocked"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.UnlockAccount(ctx, &gatehousev1.UnlockAccountRequest{Id: bobID})
				return err
			}},
		{name: "create service client", types: []string{"client.created"}, tgt: func() string { return clientID },
			call: func(ctx context.Context) error {
				res, err := ts.admin.CreateServiceClient(ctx, &gatehousev1.CreateServiceClientRequest{ClientId: "billing", Roles: []string{"user-lookup"}})
				clientID = res.GetClient().GetId()
				secrets = append(secrets, res.GetClientSecret())
				return err
			},
			check: func(ev []*gatehousev1.AuditEvent) error {
				if ev[0].TargetName != "billing" {
					return fmt.Errorf("target_name %q", ev[0].TargetName)
				}
				return nil
			}},
		{name: "set client audiences", types: []string{"client.audiences_set"}, tgt: func() string { return clientID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.SetServiceClientAudiences(ctx, &gatehousev1.SetServiceClientAudiencesRequest{Id: clientID, Audiences: []string{"billing-api"}})
				return err
			}},
		{name: "disable client", types: []string{"client.disabled"}, tgt: func() string { return clientID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.DisableServiceClient(ctx, &gatehousev1.DisableServiceClientRequest{Id: clientID})
				return err
			}},
		{name: "delete client", types: []string{"client.deleted"}, tgt: func() string { return clientID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.DeleteServiceClient(ctx, &gatehousev1.DeleteServiceClientRequest{Id: clientID})
				return err
			}},
		{name: "revoke session", types: []string{"session.revoked"}, tgt: func() string { return sessionID },
			call: func(ctx context.Context) error {
				res := ts.login(t, "bob", "bob-password-two", "")
				secrets = append(secrets, res.AccessToken, res.RefreshToken)
				v, err := ts.validate(res.AccessToken)
				if err != nil {
					t.Fatal(err)
				}
				sessionID = v.Principal.SessionId
				_, err = ts.admin.RevokeSession(ctx, &gatehousev1.RevokeSessionRequest{Id: sessionID})
				return err
			}},
		{name: "revoke all sessions", types: []string{"session.revoked_all"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.RevokeAllSessions(ctx, &gatehousev1.RevokeAllSessionsRequest{Id: bobID})
				return err
			}},
		{name: "add trusted issuer", types: []string{"issuer.added"}, tgt: func() string { return issuerID },
			call: func(ctx context.Context) error {
				res, err := ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: &gatehousev1.TrustedIssuer{Issuer: idp.IssuerV2(), Audiences: []string{idp.Audience()}}})
				issuerID = res.GetId()
				return err
			}},
		{name: "update trusted issuer", types: []string{"issuer.updated"}, tgt: func() string { return issuerID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.UpdateTrustedIssuer(ctx, &gatehousev1.UpdateTrustedIssuerRequest{Id: issuerID, Issuer: &gatehousev1.TrustedIssuer{Issuer: idp.IssuerV2(), Audiences: []string{idp.Audience(), "other"}}})
				return err
			}},
		{name: "link identity", types: []string{"federated_link.created"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.LinkIdentity(ctx, &gatehousev1.LinkIdentityRequest{Issuer: issuerID, Subject: subject, Account: "bob"})
				return err
			},
			check: func(ev []*gatehousev1.AuditEvent) error {
				if d := ev[0].Detail; d["subject"] != subject || d["issuer_id"] != issuerID || d["by"] != "admin" {
					return fmt.Errorf("detail %v", d)
				}
				return nil
			}},
		{name: "link a linked identity again",
			call: func(ctx context.Context) error {
				_, err := ts.admin.LinkIdentity(ctx, &gatehousev1.LinkIdentityRequest{Issuer: issuerID, Subject: subject, Account: "carol"})
				return err
			}},
		{name: "unlink identity", types: []string{"federated_link.removed"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.UnlinkIdentity(ctx, &gatehousev1.UnlinkIdentityRequest{Issuer: issuerID, Subject: subject})
				return err
			}},
		{name: "remove trusted issuer", types: []string{"issuer.removed"}, tgt: func() string { return issuerID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.DeleteTrustedIssuer(ctx, &gatehousev1.DeleteTrustedIssuerRequest{Id: issuerID})
				return err
			}},
		{name: "remove a missing trusted issuer",
			call: func(ctx context.Context) error {
				_, err := ts.admin.DeleteTrustedIssuer(ctx, &gatehousev1.DeleteTrustedIssuerRequest{Id: issuerID})
				return err
			}},
		{name: "delete user", types: []string{"user.deleted"}, tgt: func() string { return bobID },
			call: func(ctx context.Context) error {
				_, err := ts.admin.DeleteUser(ctx, &gatehousev1.DeleteUserRequest{Id: bobID})
				return err
			}},
		{name: "rotate signing key at once", types: []string{"key.created", "key.retired"}, // the new key is created active
			call: func(ctx context.Context) error {
				before, err := ts.admin.ListSigningKeys(ctx, &gatehousev1.ListSigningKeysRequest{})
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range before.Keys {
					if k.State == "active" {
						oldKid = k.Kid
					}
				}
				_, err = ts.admin.RotateSigningKey(ctx, &gatehousev1.RotateSigningKeyRequest{Immediate: true})
				return err
			},
			check: func(ev []*gatehousev1.AuditEvent) error {
				for _, e := range ev {
					if e.Type == "key.retired" && e.Target != oldKid {
						return fmt.Errorf("retired %q, want %q", e.Target, oldKid)
					}
					if e.Type == "key.created" && (e.Target == oldKid || e.Detail["state"] != "active") {
						return fmt.Errorf("created %q (%v)", e.Target, e.Detail)
					}
				}
				return nil
			}},
		{name: "revoke signing key", types: []string{"key.revoked"}, tgt: func() string { return oldKid },
			call: func(ctx context.Context) error {
				_, err := ts.admin.RevokeSigningKey(ctx, &gatehousev1.RevokeSigningKeyRequest{Kid: oldKid})
				return err
			}},
	}
	for i, s := range steps {
		reqID := fmt.Sprintf("audit-step-%02d", i)
		err := s.call(withRequestID(ctx, reqID))
		if s.types != nil && err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.types == nil && err == nil {
			t.Fatalf("%s: succeeded, want an error", s.name)
		}
		var got []*gatehousev1.AuditEvent
		for _, e := range ts.allAudit(t) {
			if e.RequestId == reqID {
				got = append(got, e)
			}
		}
		var types []string
		for _, e := range got {
			types = append(types, e.Type)
		}
		slices.Sort(types)
		if !slices.Equal(types, s.types) {
			t.Errorf("%s: events %v, want %v", s.name, types, s.types)
			continue
		}
		for _, e := range got {
			if e.Actor != adminID || e.ActorName != "admin" || e.Ip != "127.0.0.1" || e.Time.AsTime().IsZero() {
				t.Errorf("%s: %s names actor %q (%q) from %q, want %s (admin) from 127.0.0.1", s.name, e.Type, e.Actor, e.ActorName, e.Ip, adminID)
			}
			if s.tgt != nil && e.Target != s.tgt() {
				t.Errorf("%s: %s target %q, want %q", s.name, e.Type, e.Target, s.tgt())
			}
		}
		if s.check != nil && len(got) > 0 {
			if err := s.check(got); err != nil {
				t.Errorf("%s: %v", s.name, err)
			}
		}
	}

	// A failed password login is stored by the batch writer with the IP.
	_, err = ts.auth.IssueToken(withRequestID(context.Background(), "audit-login-fail"),
		&gatehousev1.IssueTokenRequest{GrantType: "password", Username: "carol", Password: "wrong-password-carol"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("wrong password: %v", err)
	}
	secrets = append(secrets, "wrong-password-carol")
	eventually(t, 10*time.Second, "the login.failed event", func() error {
		for _, e := range ts.allAudit(t) {
			if e.RequestId == "audit-login-fail" {
				if e.Type != "login.failed" || e.TargetName != "carol" || e.Ip != "127.0.0.1" || e.Detail["reason"] != core.ReasonBadCredentials {
					return fmt.Errorf("event %+v", e)
				}
				return nil
			}
		}
		return fmt.Errorf("not stored yet")
	})

	// No event and no audit log line holds a password, secret or token.
	all, err := json.Marshal(ts.allAudit(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s != "" && (bytes.Contains(all, []byte(s)) || strings.Contains(lines.String(), s)) {
			t.Errorf("the audit trail holds a secret used in the test (%.6s...)", s)
		}
	}
	if !strings.Contains(lines.String(), `"log":"audit"`) || !strings.Contains(lines.String(), `"type":"user.deleted"`) {
		t.Errorf("the audit log lacks the events: %.300s", lines.String())
	}
}

// TestListAuditEvents: filters, pagination and the page size bound, over
// gRPC and REST, for admins only.
func TestListAuditEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := ts.adminCtx(t)
		v, err := ts.validate(ts.adminToken(t))
		if err != nil {
			t.Fatal(err)
		}
		adminID := v.Principal.Subject
		var ids []string
		for i := range 5 {
			a, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: fmt.Sprintf("user%d", i), Password: "a-long-password"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, a.Id)
			if _, err := ts.admin.DisableUser(ctx, &gatehousev1.DisableUserRequest{Id: a.Id}); err != nil {
				t.Fatal(err)
			}
		}
		list := func(req *gatehousev1.ListAuditEventsRequest) []*gatehousev1.AuditEvent {
			t.Helper()
			res, err := ts.admin.ListAuditEvents(ctx, req)
			if err != nil {
				t.Fatalf("ListAuditEvents(%v): %v", req, err)
			}
			return res.Events
		}
		all := list(&gatehousev1.ListAuditEventsRequest{Type: "user.created", PageSize: 500})
		if len(all) != 6 { // admin and five users
			t.Fatalf("%d user.created events, want 6", len(all))
		}
		mid := all[2].Time // user2's creation, all newest first
		for _, tc := range []struct {
			name string
			req  *gatehousev1.ListAuditEventsRequest
			want int
		}{
			{"type", &gatehousev1.ListAuditEventsRequest{Type: "user.disabled"}, 5},
			{"target", &gatehousev1.ListAuditEventsRequest{Target: ids[3]}, 2},
			{"target and type", &gatehousev1.ListAuditEventsRequest{Target: ids[3], Type: "user.disabled"}, 1},
			{"actor", &gatehousev1.ListAuditEventsRequest{Actor: adminID, Type: "user.created"}, 5},
			{"actor system (the bootstrap)", &gatehousev1.ListAuditEventsRequest{Actor: "system", Type: "user.created"}, 1},
			{"since", &gatehousev1.ListAuditEventsRequest{Type: "user.created", Since: mid}, 3},
			{"until", &gatehousev1.ListAuditEventsRequest{Type: "user.created", Until: mid}, 3},
			{"empty range", &gatehousev1.ListAuditEventsRequest{Since: timestamppb.New(ts.clock.Now().Add(time.Hour))}, 0},
		} {
			if got := list(tc.req); len(got) != tc.want {
				t.Errorf("%s: %d events, want %d", tc.name, len(got), tc.want)
			}
		}
		// Pages of two walk the same events, newest first, without repeats.
		var paged []*gatehousev1.AuditEvent
		req := &gatehousev1.ListAuditEventsRequest{Type: "user.created", PageSize: 2}
		for n := 0; ; n++ {
			res, err := ts.admin.ListAuditEvents(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Events) > 2 || n > 5 {
				t.Fatalf("page %d has %d events", n, len(res.Events))
			}
			paged = append(paged, res.Events...)
			if res.NextPageToken == "" {
				break
			}
			req.PageToken = res.NextPageToken
		}
		if len(paged) != len(all) {
			t.Fatalf("paged %d events, want %d", len(paged), len(all))
		}
		for i := range all {
			if paged[i].Id != all[i].Id {
				t.Errorf("page order differs at %d", i)
			}
		}
		for _, bad := range []*gatehousev1.ListAuditEventsRequest{
			{PageSize: 501}, {PageSize: -1}, {PageToken: "not-a-token"},
			{Since: timestamppb.New(ts.clock.Now()), Until: timestamppb.New(ts.clock.Now().Add(-time.Hour))},
		} {
			if _, err := ts.admin.ListAuditEvents(ctx, bad); status.Code(err) != codes.InvalidArgument {
				t.Errorf("ListAuditEvents(%v) = %v, want InvalidArgument", bad, err)
			}
		}
		// REST, and admins only.
		r := ts.do(t, "GET", "/v1/admin/audit-events?type=user.disabled&target="+ids[0], "", "", ts.adminToken(t))
		if r.status != 200 {
			t.Fatalf("REST = %d %s", r.status, r.body)
		}
		if evs, _ := r.json(t)["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["target"] != ids[0] {
			t.Errorf("REST events = %s", r.body)
		}
		if _, err := ts.admin.EnableUser(ctx, &gatehousev1.EnableUserRequest{Id: ids[0]}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.admin.ListAuditEvents(bearer(context.Background(), ts.token(t, "user0", "a-long-password")), &gatehousev1.ListAuditEventsRequest{}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("a non-admin listed audit events: %v", err)
		}
	})
}

// TestAuditRetention: events older than AuditRetention are pruned.
func TestAuditRetention(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		old, err := ts.app.Core().ListAuditEvents(ctx, core.AuditFilter{}, 500, "")
		if err != nil || len(old.Events) == 0 {
			t.Fatalf("events before: %v, %v", old.Events, err)
		}
		ts.clock.Advance(89 * 24 * time.Hour)
		if _, err := ts.app.Core().CreateUser(ctx, core.NewUser{Username: "late"}); err != nil {
			t.Fatal(err)
		}
		ts.clock.Advance(2 * 24 * time.Hour) // the first events are 91 days old
		ts.app.PruneAudit(ctx)
		left, err := ts.app.Core().ListAuditEvents(ctx, core.AuditFilter{}, 500, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(left.Events) != 1 || left.Events[0].TargetName != "late" || left.Events[0].Actor != "system" {
			t.Errorf("left after pruning: %+v", left.Events)
		}
	})
}

func strPtr(s string) *string { return &s }

// TestAuditJITProvisioning: a user provisioned from a trusted issuer's
// token is audited with its link, by the system, under the request's id.
func TestAuditJITProvisioning(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f := newFedFixture(t, b.DSN(t), true)
			tok := f.user(f.v2, func(c map[string]any) {
				c["oid"] = "9e9e9e9e-0000-4000-8000-00000000000a"
				c["email"], c["upn"], c["preferred_username"] = "jit@example.com", "jit@example.com", "jit@example.com"
			})
			res, err := f.ts.auth.ValidateToken(withRequestID(context.Background(), "audit-jit"), &gatehousev1.ValidateTokenRequest{Token: tok})
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, e := range f.ts.allAudit(t) {
				if e.RequestId != "audit-jit" {
					continue
				}
				types = append(types, e.Type)
				if e.Actor != "system" || e.Target != res.Principal.Subject || e.Ip != "127.0.0.1" {
					t.Errorf("%s: actor %q target %q ip %q", e.Type, e.Actor, e.Target, e.Ip)
				}
				if e.Type == "federated_link.created" && (e.Detail["by"] != "jit" || e.Detail["issuer_id"] != f.issuerID) {
					t.Errorf("link detail %v", e.Detail)
				}
				if strings.Contains(fmt.Sprint(e.Detail), tok) {
					t.Error("the federated token is in the audit trail")
				}
			}
			slices.Sort(types)
			if !slices.Equal(types, []string{"federated_link.created", "user.created"}) {
				t.Errorf("events %v", types)
			}
		})
	}
}
