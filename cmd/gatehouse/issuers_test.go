package main

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCLIIssuers(t *testing.T) {
	dir := migratedDir(t)
	const azure = "https://sts.windows.net/0b1f7c2e-1111-2222-3333-444455556666/"
	const keycloak = "https://sso.example.com/realms/corp"
	steps := []struct {
		name  string
		args  []string
		want  string // regexp the output must match
		usage bool   // want a usage error
		err   bool   // want any error
	}{
		{"add azure", []string{"issuers", "add", "--issuer", azure, "--audience", "api://gatehouse,11111111-2222-3333-4444-555555555555",
			"--jwks-uri", "https://login.microsoftonline.com/common/discovery/keys", "--map", "aaaa-group=viewer,editor", "--map", "ops=admin"},
			`(?s)added trusted issuer ` + regexp.QuoteMeta(azure) + ` \(id [0-9a-f-]{36}\).*allowed_algs\s+RS256\n.*leeway\s+60s\n.*required_claims\s+exp,iat\n` +
				`.*identity_claims\s+email,preferred_username,upn,appid,azp\n.*group_claims\s+groups,roles\n.*role_map\s+aaaa-group=viewer,editor; ops=admin\n.*jit_provisioning\s+false`, false, false},
		{"add keycloak", []string{"issuers", "add", "--issuer", keycloak, "--audience", "gatehouse", "--algs", "RS256,ES256", "--leeway", "30s", "--jit"},
			`(?s)added trusted issuer .*jwks_uri\s+\(discovery\).*allowed_algs\s+RS256,ES256.*leeway\s+30s.*jit_provisioning\s+true`, false, false},
		{"duplicate", []string{"issuers", "add", "--issuer", keycloak, "--audience", "x"}, ``, false, true},
		{"http issuer", []string{"issuers", "add", "--issuer", "http://idp.example.com", "--audience", "x"}, ``, false, true},
		{"alg none", []string{"issuers", "add", "--issuer", "https://idp.example.com", "--audience", "x", "--algs", "none"}, ``, false, true},
		{"no audience", []string{"issuers", "add", "--issuer", "https://idp.example.com"}, ``, true, true},
		{"bad map", []string{"issuers", "add", "--issuer", "https://idp.example.com", "--audience", "x", "--map", "nogroup"}, ``, true, true},
		{"add takes no args", []string{"issuers", "add", "--issuer", "https://idp.example.com", "--audience", "x", "extra"}, ``, true, true},
		{"list", []string{"issuers", "list"}, `(?s)ID\s+ISSUER\s+AUDIENCES.*` + regexp.QuoteMeta(keycloak) + `\s+gatehouse\s+\(discovery\)\s+RS256,ES256\s+30s\s+true\s+none\s+-\s+-\n` +
			`.*` + regexp.QuoteMeta(azure) + `\s+api://gatehouse,1111.*\s+https://login.microsoftonline.com/common/discovery/keys\s+RS256\s+60s\s+false\s+none\s+-\s+aaaa-group=viewer,editor; ops=admin`, false, false},
		{"update by issuer", []string{"issuers", "update", keycloak, "--group-claims", "roles", "--map", "/staff=viewer", "--jit=false"},
			`(?s)updated trusted issuer .*allowed_algs\s+RS256,ES256.*leeway\s+30s.*group_claims\s+roles\n.*role_map\s+/staff=viewer\n.*jit_provisioning\s+false`, false, false},
		{"bad link policy", []string{"issuers", "update", keycloak, "--link-by", "email"}, ``, false, true},
		{"link policy and exchange clients", []string{"issuers", "update", keycloak, "--link-by", "verified_email", "--exchange-clients", "svc1,svc2"},
			`(?s)link_by\s+verified_email\n.*exchange_clients\s+svc1,svc2\n`, false, false},
		{"client to link", []string{"clients", "create", "--client-id", "svc1"}, ``, false, false},
		{"link", []string{"issuers", "link", keycloak, "tenant-x:object-y", "svc1"}, `linked subject tenant-x:object-y of ` + regexp.QuoteMeta(keycloak) + ` to account `, false, false},
		{"link twice", []string{"issuers", "link", keycloak, "tenant-x:object-y", "svc1"}, ``, false, true},
		{"link to nobody", []string{"issuers", "link", keycloak, "other", "nobody"}, ``, false, true},
		{"links", []string{"issuers", "links", keycloak}, `(?s)SUBJECT\s+ACCOUNT\s+BY\s+CREATED\n` + `tenant-x:object-y\s+\S+\s+admin\s+\d{4}-`, false, false},
		{"unlink", []string{"issuers", "unlink", keycloak, "tenant-x:object-y"}, `unlinked subject tenant-x:object-y`, false, false},
		{"unlink again", []string{"issuers", "unlink", keycloak, "tenant-x:object-y"}, ``, false, true},
		{"links after unlink", []string{"issuers", "links", keycloak}, `^SUBJECT\s+ACCOUNT\s+BY\s+CREATED\n$`, false, false},
		{"link needs 3 args", []string{"issuers", "link", keycloak, "x"}, ``, true, true},
		{"update clears map", []string{"issuers", "update", azure, "--map", ""}, `role_map\s+-\n`, false, false},
		{"update to an invalid leeway", []string{"issuers", "update", azure, "--leeway", "10m"}, ``, false, true},
		{"update without changes", []string{"issuers", "update", azure}, ``, true, true},
		{"update unknown", []string{"issuers", "update", "https://nobody.example.com", "--jit"}, ``, false, true},
		{"remove by issuer", []string{"issuers", "remove", azure}, `removed trusted issuer ` + regexp.QuoteMeta(azure), false, false},
		{"remove again", []string{"issuers", "remove", azure}, ``, false, true},
		{"unknown subcommand", []string{"issuers", "frobnicate"}, ``, true, true},
	}
	for _, s := range steps {
		out, err := cli(t, dir, "", s.args...)
		if (err != nil) != s.err || (s.usage && !errors.Is(err, errUsage)) {
			t.Fatalf("%s: err = %v, want error %v (usage %v); output:\n%s", s.name, err, s.err, s.usage, out)
		}
		if s.want != "" && !regexp.MustCompile(s.want).MatchString(out) {
			t.Fatalf("%s: output does not match %q:\n%s", s.name, s.want, out)
		}
	}

	// The list has one issuer left; remove it by id.
	out, err := cli(t, dir, "", "issuers", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 {
		t.Fatalf("list = %v:\n%s", err, out)
	}
	id := strings.Fields(lines[1])[0]

	// What the CLI wrote is what the server reads.
	app := openServe(t, dir, 0, nil)
	list, err := app.Core().ListTrustedIssuers(context.Background())
	app.Close()
	if err != nil || len(list) != 1 {
		t.Fatalf("issuers in the database: %+v, %v", list, err)
	}
	ti := list[0]
	if ti.ID != id || ti.Issuer != keycloak || !slices.Equal(ti.Audiences, []string{"gatehouse"}) || ti.Leeway != 30*time.Second ||
		!slices.Equal(ti.GroupClaims, []string{"roles"}) || !slices.Equal(ti.RoleMap["/staff"], []string{"viewer"}) || len(ti.RoleMap) != 1 || ti.JITProvisioning ||
		ti.LinkBy != "verified_email" || !slices.Equal(ti.ExchangeClients, []string{"svc1", "svc2"}) {
		t.Errorf("stored issuer = %+v", ti)
	}

	if out, err := cli(t, dir, "", "issuers", "remove", id); err != nil || !strings.Contains(out, "removed trusted issuer "+keycloak) {
		t.Fatalf("remove by id = %v: %s", err, out)
	}
	if out, err := cli(t, dir, "", "issuers", "list"); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("list after removing all = %v:\n%s", err, out)
	}
}
