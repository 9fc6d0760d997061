package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatehousev1 "github.com/gatehouse/gatehouse/gen/gatehouse/v1"
	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/federation/fakeidp"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// linkIdP is a fake IdP trusted with one link_by policy.
type linkIdP struct {
	idp *fakeidp.IdP
	iss string
}

// token returns a user token of the IdP for the Entra object id oid.
func (l linkIdP) token(oid string, edit func(map[string]any)) string {
	c := l.idp.DefaultClaims(l.iss, "")
	c["oid"] = oid
	c["sub"] = "pairwise-" + oid
	if edit != nil {
		edit(c)
	}
	return l.idp.Token(c)
}

// TestFederatedLinkTakeover: an IdP user never becomes a local account by
// its mutable claims unless the issuer's policy allows it, and never a
// privileged one (admin role or local password) without an admin's link.
func TestFederatedLinkTakeover(t *testing.T) {
	forEachBackend(t, func(t *testing.T, ts *testServer) {
		ctx := ts.adminCtx(t)
		aliceID, _ := seed(t, ts) // alice has a password
		carol, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "carol", Email: "carol@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		root2, err := ts.admin.CreateUser(ctx, &gatehousev1.CreateUserRequest{Username: "root2", Email: "root2@example.com", Roles: []string{"admin"}})
		if err != nil {
			t.Fatal(err)
		}
		adminP, err := ts.validate(ts.adminToken(t))
		if err != nil {
			t.Fatal(err)
		}
		adminID := adminP.Principal.Subject
		adminEmail := "admin@example.com"
		if _, err := ts.admin.UpdateUser(ctx, &gatehousev1.UpdateUserRequest{Id: adminID, Email: &adminEmail}); err != nil {
			t.Fatal(err)
		}
		trust := func(linkBy string) linkIdP {
			idp := fakeidp.New(t, fakeidp.WithClock(ts.clock.Now))
			l := linkIdP{idp: idp, iss: idp.IssuerV2()}
			if _, err := ts.admin.CreateTrustedIssuer(ctx, &gatehousev1.CreateTrustedIssuerRequest{Issuer: &gatehousev1.TrustedIssuer{
				Issuer: l.iss, Audiences: []string{idp.Audience()}, LinkBy: linkBy, ExchangeClients: []string{"reporter"},
			}}); err != nil {
				t.Fatalf("trust (link_by %q): %v", linkBy, err)
			}
			return l
		}
		byNone, byEmail, byName := trust(""), trust("verified_email"), trust("username")
		r := ts.replica(t) // a second replica on the same database
		want := func(name, token, subject string) {
			t.Helper()
			res, err := ts.validate(token)
			switch {
			case subject == "" && status.Code(err) != codes.PermissionDenied:
				t.Errorf("%s: %v %v, want PermissionDenied", name, res, err)
			case subject != "" && err != nil:
				t.Errorf("%s: %v, want account %s", name, err, subject)
			case subject != "" && res.Principal.Subject != subject:
				t.Errorf("%s: account %s, want %s", name, res.Principal.Subject, subject)
			}
		}
		verified := func(email string) func(map[string]any) {
			return func(c map[string]any) { c["email"], c["email_verified"] = email, true }
		}

		// preferred_username "admin" under link_by username: refused.
		want("preferred_username admin", byName.token("o-1", func(c map[string]any) { c["preferred_username"] = "admin" }), "")
		want("preferred_username ADMIN", byName.token("o-1", func(c map[string]any) { c["preferred_username"] = "ADMIN" }), "")
		// The admin's email, unverified (false or absent): refused.
		want("admin email unverified", byEmail.token("o-2", func(c map[string]any) { c["email"], c["email_verified"] = adminEmail, false }), "")
		want("admin email, no email_verified", byEmail.token("o-2", func(c map[string]any) { c["email"] = adminEmail }), "")
		// Verified, but not for privileged accounts: admin, admin role, password.
		want("admin email verified", byEmail.token("o-2", verified(adminEmail)), "")
		want("admin role via xms_edov", byEmail.token("o-3", func(c map[string]any) { c["email"], c["xms_edov"] = "root2@example.com", true }), "")
		want("password account verified", byEmail.token("o-4", verified("alice@example.com")), "")
		want("password account by username", byName.token("o-4", func(c map[string]any) { c["preferred_username"] = "alice" }), "")
		// Verified, but the issuer's policy is none (the default).
		want("verified, link_by none", byNone.token("o-5", verified("carol@example.com")), "")
		// Verified with link_by verified_email: carol is linked, and the link
		// is used afterwards whatever the claims say.
		want("verified carol", byEmail.token("o-5", verified("carol@example.com")), carol.Id)
		want("carol after an email change", byEmail.token("o-5", func(c map[string]any) {
			c["email"], c["email_verified"], c["preferred_username"] = "mallory@example.com", false, "admin"
		}), carol.Id)
		// Nobody took over: the privileged accounts have no links.
		for _, l := range []linkIdP{byNone, byEmail, byName} {
			res, err := ts.admin.ListIdentityLinks(ctx, &gatehousev1.ListIdentityLinksRequest{Issuer: l.iss})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range res.Links {
				if k.AccountId == adminID || k.AccountId == root2.Id || k.AccountId == aliceID {
					t.Errorf("%s linked %s to a privileged account %s by %s", l.iss, k.Subject, k.AccountId, k.CreatedBy)
				}
				if k.AccountId == carol.Id && (k.CreatedBy != "verified_email" || k.Subject != l.idp.Tenant()+":o-5") {
					t.Errorf("carol's link = %+v", k)
				}
			}
		}
		if _, err := ts.validate(ts.adminToken(t)); err != nil {
			t.Errorf("the admin's own token: %v", err)
		}

		// An admin links alice's Entra identity (tid:oid) over REST; any token
		// of that identity then maps to alice, whatever its (pairwise) sub.
		subject := byNone.idp.Tenant() + ":o-alice"
		body, _ := json.Marshal(map[string]string{"issuer": byNone.iss, "subject": subject, "account": "alice"})
		if r := ts.do(t, "POST", "/v1/admin/identity-links", "application/json", string(body), ts.adminToken(t)); r.status != 200 || r.json(t)["created_by"] != "admin" {
			t.Fatalf("REST link = %d %s", r.status, r.body)
		}
		want("linked Entra identity", byNone.token("o-alice", nil), aliceID)
		want("linked Entra identity, other app's sub", byNone.token("o-alice", func(c map[string]any) { c["sub"] = "another-pairwise-sub" }), aliceID)
		want("same oid in another tenant", byNone.token("o-alice", func(c map[string]any) { c["tid"] = "other-tenant" }), "")
		if r := ts.do(t, "POST", "/v1/admin/identity-links", "application/json", string(body), ts.adminToken(t)); r.status != 409 {
			t.Errorf("REST link twice = %d %s", r.status, r.body)
		}
		// Only admins may link.
		aliceTok := ts.token(t, "alice", "alice-password")
		if _, err := ts.admin.LinkIdentity(bearer(context.Background(), aliceTok), &gatehousev1.LinkIdentityRequest{Issuer: byNone.iss, Subject: "x", Account: "alice"}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("LinkIdentity by a non-admin: %v", err)
		}
		// Another replica learns the link from the change log (link_by none:
		// it could not have made the link itself), and later its removal.
		eventually(t, 10*time.Second, "the replica maps the linked identity", func() error {
			res, err := r.validate(byNone.token("o-alice", nil))
			if err != nil {
				return err
			}
			if res.Principal.Subject != aliceID {
				return fmt.Errorf("account %s", res.Principal.Subject)
			}
			return nil
		})
		// Unlink: 403 again.
		q := url.Values{"issuer": {byNone.iss}, "subject": {subject}}
		if r := ts.do(t, "DELETE", "/v1/admin/identity-links?"+q.Encode(), "", "", ts.adminToken(t)); r.status != 200 {
			t.Fatalf("REST unlink = %d %s", r.status, r.body)
		}
		want("after unlink", byNone.token("o-alice", nil), "")
		eventually(t, 10*time.Second, "the replica forgets the link", func() error {
			if _, err := r.validate(byNone.token("o-alice", nil)); status.Code(err) != codes.PermissionDenied {
				return fmt.Errorf("validate: %v", err)
			}
			return nil
		})
		if _, err := ts.admin.UnlinkIdentity(ctx, &gatehousev1.UnlinkIdentityRequest{Issuer: byNone.iss, Subject: subject}); status.Code(err) != codes.NotFound {
			t.Errorf("unlink twice: %v", err)
		}

		// A generic OIDC issuer (no tid/oid): the subject is sub.
		kc := func(sub string) string {
			c := byNone.idp.DefaultClaims(byNone.iss, "")
			delete(c, "tid")
			delete(c, "oid")
			c["sub"] = sub
			return byNone.idp.Token(c)
		}
		if _, err := ts.admin.LinkIdentity(ctx, &gatehousev1.LinkIdentityRequest{Issuer: byNone.iss, Subject: "kc-sub-1", Account: carol.Id}); err != nil {
			t.Fatal(err)
		}
		want("sub-linked identity", kc("kc-sub-1"), carol.Id)
		want("other sub", kc("kc-sub-2"), "")

		// Service principals: app-only tokens map only through a link (or
		// exchange_clients): an admin links the app's tid:oid to a client.
		app := byNone.idp.AppClaims(byNone.iss, "", "some-app")
		want("unlinked app", byNone.idp.Token(app), "")
		spSubject := byNone.idp.Tenant() + ":" + app["oid"].(string)
		if _, err := ts.admin.LinkIdentity(ctx, &gatehousev1.LinkIdentityRequest{Issuer: byNone.iss, Subject: spSubject, Account: "reporter"}); err != nil {
			t.Fatal(err)
		}
		res, err := ts.validate(byNone.idp.Token(app))
		if err != nil || res.Principal.ClientId != "reporter" {
			t.Errorf("linked app: %v %v", res, err)
		}
	})
}

// TestMigrateIssuerLinkPolicies: issuers stored before links existed get the
// link_by closest to their old identity claims, once.
func TestMigrateIssuerLinkPolicies(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, err := store.Open(ctx, b.DSN(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			legacy := map[string][]string{
				"https://a.example.com": {"email", "preferred_username"},
				"https://b.example.com": {"preferred_username", "email"},
				"https://c.example.com": {"upn"},
				"https://d.example.com": {"appid", "azp"},
			}
			wantPolicy := map[string]string{
				"https://a.example.com": "verified_email",
				"https://b.example.com": "username",
				"https://c.example.com": "upn",
				"https://d.example.com": "none",
				"https://e.example.com": "none", // set explicitly: left alone
			}
			i := 0
			for iss, claims := range legacy {
				i++
				if _, err := st.CreateTrustedIssuer(ctx, store.TrustedIssuer{ID: "legacy-" + string(rune('0'+i)), Issuer: iss, Audiences: []string{"x"}, IdentityClaims: claims}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.CreateTrustedIssuer(ctx, store.TrustedIssuer{ID: "new", Issuer: "https://e.example.com", Audiences: []string{"x"}, LinkBy: "none"}); err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			n, err := core.MigrateIssuerLinkPolicies(ctx, st, log)
			if err != nil || n != len(legacy) {
				t.Fatalf("migrate = %d, %v; want %d", n, err, len(legacy))
			}
			list, err := st.TrustedIssuers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range list {
				if ti.LinkBy != wantPolicy[ti.Issuer] {
					t.Errorf("%s: link_by %q, want %q", ti.Issuer, ti.LinkBy, wantPolicy[ti.Issuer])
				}
			}
			if n, err := core.MigrateIssuerLinkPolicies(ctx, st, log); err != nil || n != 0 {
				t.Errorf("second run = %d, %v; want 0", n, err)
			}
		})
	}
}
