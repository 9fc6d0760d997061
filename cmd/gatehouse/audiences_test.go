package main

import (
	"context"
	"regexp"
	"testing"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/errs"
)

func TestCLIClientAudiences(t *testing.T) {
	dir := migratedDir(t)
	out, err := cli(t, dir, "", "clients", "create", "--client-id", "etl", "--audiences", "https://api.example.com, reports")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`client_secret=(\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no secret in %q", out)
	}
	secret := m[1]
	if _, err := cli(t, dir, "", "clients", "create", "--client-id", "plain"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, dir, "", "clients", "create", "--client-id", "bad", "--audiences", "a,"+string(rune(1))); err == nil {
		t.Error("an audience with a control character was accepted")
	}
	steps := []cliStep{
		{[]string{"clients", "list"}, `(?m)^\S+\s+etl\s+true\s+https://api.example.com,reports\s`, false},
		{[]string{"clients", "list"}, `(?m)^\S+\s+plain\s+true\s+\(default\)\s`, false},
		{[]string{"clients", "set-audiences", "etl", "reports,billing"}, `etl: audiences reports,billing`, false},
		{[]string{"clients", "list"}, `etl\s+true\s+reports,billing\s`, false},
		{[]string{"clients", "set-audiences", "etl"}, `etl: audiences \(default\)`, false},
		{[]string{"clients", "set-audiences", "etl", "reports"}, `etl: audiences reports`, false},
		{[]string{"clients", "set-audiences"}, ``, true},
		{[]string{"clients", "set-audiences", "nobody", "x"}, ``, true},
	}
	runCLISteps(t, dir, steps)
	// What the CLI stored is what the grant enforces.
	app := openServe(t, dir, 0, nil)
	defer app.Close()
	req := core.TokenRequest{GrantType: core.GrantClientCredentials, ClientID: "etl", ClientSecret: secret}
	if _, err := app.Core().IssueToken(context.Background(), req); err != nil {
		t.Errorf("token for the default audience: %v", err)
	}
	req.Audience = "https://api.example.com"
	if _, err := app.Core().IssueToken(context.Background(), req); errs.As(err).OAuthCode != "invalid_target" {
		t.Errorf("audience removed by set-audiences: %v, want invalid_target", err)
	}
}

func TestRequireAudienceFlag(t *testing.T) {
	parse := func(args ...string) (options, error) {
		o, err := parseServe(args...)
		if o == nil {
			return options{}, err
		}
		return *o, err
	}
	if o, err := parse(); err != nil || o.cfg.Core.RequireAudience {
		t.Errorf("default: %v, %v; want false", o.cfg.Core.RequireAudience, err)
	}
	if o, err := parse("--require-audience"); err != nil || !o.cfg.Core.RequireAudience {
		t.Errorf("--require-audience: %v, %v", o.cfg.Core.RequireAudience, err)
	}
	t.Setenv("GATEHOUSE_REQUIRE_AUDIENCE", "true")
	if o, err := parse(); err != nil || !o.cfg.Core.RequireAudience {
		t.Errorf("GATEHOUSE_REQUIRE_AUDIENCE=true: %v, %v", o.cfg.Core.RequireAudience, err)
	}
	if o, err := parse("--require-audience=false"); err != nil || o.cfg.Core.RequireAudience {
		t.Errorf("flag over env: %v, %v", o.cfg.Core.RequireAudience, err)
	}
	t.Setenv("GATEHOUSE_REQUIRE_AUDIENCE", "maybe")
	if _, err := parse(); err == nil {
		t.Error("a malformed GATEHOUSE_REQUIRE_AUDIENCE was accepted")
	}
}
