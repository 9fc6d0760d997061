package main

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"testing"
)

func TestCLIProfiles(t *testing.T) {
	dir := migratedDir(t)
	const airflow = "https://airflow.example.com"
	steps := []struct {
		name  string
		args  []string
		want  string // regexp the output must match
		usage bool   // want a usage error
		err   bool   // want any error
	}{
		{"empty list", []string{"profiles", "list"}, `AUDIENCE\s+SUBJECT\s+BUILTIN\s+CLAIMS\s+VISIBLE ROLES\n(time=.*\n)?$`, false, false},
		{"airflow", []string{"profiles", "set", airflow, "--builtin", "airflow", "--role-order", "admin,op,user,viewer"},
			`(?s)set the claim profile of ` + regexp.QuoteMeta(airflow) + `\n.*builtin\s+airflow\n\s+subject\s+username\n\s+claim role\s+role \(order admin,op,user,viewer\)\n\s+visible_roles\s+-\n`, false, false},
		{"custom", []string{"profiles", "set", "reports", "--subject", "username", "--claim", "group=role", "--claim", "tenant=constant:acme:eu", "--visible-roles", "viewer,editor"},
			`(?s)builtin\s+-\n\s+subject\s+username\n\s+claim group\s+role\n\s+claim tenant\s+constant:acme:eu\n\s+visible_roles\s+viewer,editor\n`, false, false},
		{"list", []string{"profiles", "list"},
			`(?s)` + regexp.QuoteMeta(airflow) + `\s+username\s+airflow\s+role=role \(order admin,op,user,viewer\)\s+-\n` + `reports\s+username\s+-\s+group=role; tenant=constant:acme:eu\s+viewer,editor\n`, false, false},
		{"show", []string{"profiles", "show", airflow}, `audience\s+` + regexp.QuoteMeta(airflow), false, false},
		{"replace", []string{"profiles", "set", "reports", "--claim", "mail=email"}, `(?s)subject\s+id\n\s+claim mail\s+email\n\s+visible_roles\s+-\n`, false, false},
		{"reserved claim", []string{"profiles", "set", "reports", "--claim", "sub=username"}, ``, false, true},
		{"malformed claim", []string{"profiles", "set", "reports", "--claim", "group"}, ``, true, true},
		{"unknown builtin", []string{"profiles", "set", "reports", "--builtin", "superset"}, ``, false, true},
		{"role order without role claim", []string{"profiles", "set", "reports", "--role-order", "admin"}, ``, false, true},
		{"set needs an audience", []string{"profiles", "set", "--builtin", "airflow"}, ``, true, true},
		{"show unknown", []string{"profiles", "show", "nobody"}, ``, false, true},
		{"delete", []string{"profiles", "delete", "reports"}, `deleted the claim profile of reports`, false, false},
		{"delete again", []string{"profiles", "delete", "reports"}, ``, false, true},
		{"unknown subcommand", []string{"profiles", "frobnicate"}, ``, true, true},
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

	// What the CLI wrote is what the server reads.
	app := openServe(t, dir, 0, nil)
	defer app.Close()
	list, err := app.Core().ListClaimProfiles(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("profiles in the database: %+v, %v", list, err)
	}
	if p := list[0]; p.Audience != airflow || p.Subject != "username" || p.Builtin != "airflow" || len(p.Claims) != 1 ||
		!slices.Equal(p.Claims[0].RoleOrder, []string{"admin", "op", "user", "viewer"}) {
		t.Errorf("stored profile = %+v", p)
	}
}
