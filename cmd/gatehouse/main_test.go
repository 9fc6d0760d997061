package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/service/core"
)

// cli runs the command line in-process against dataDir.
func cli(t *testing.T, dataDir, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args[:2:2], append([]string{"--data-dir", dataDir, "--log-level", "warn"}, args[2:]...)...)
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

// migratedDir is a data directory with the schema set up, as `gatehouse
// migrate up` leaves it (CLI commands never set up a schema themselves).
func migratedDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := cli(t, dir, "", "migrate", "up"); err != nil {
		t.Fatalf("migrate up: %v: %s", err, out)
	}
	return dir
}

func TestCLI(t *testing.T) {
	dir := migratedDir(t)
	steps := []struct {
		name  string
		stdin string
		args  []string
		want  string // regexp the output must match
		err   bool
	}{
		{"create user", "alice-password\n", []string{"users", "create", "--username", "Alice", "--email", "alice@example.com", "--roles", "viewer, editor"}, `created user alice \(id [0-9a-f-]{36}\)`, false},
		{"duplicate user", "alice-password\n", []string{"users", "create", "--username", "alice"}, ``, true},
		{"short password", "short\n", []string{"users", "create", "--username", "bob"}, ``, true},
		{"no password on stdin", "", []string{"users", "create", "--username", "bob"}, ``, true},
		{"password as flag is refused", "", []string{"users", "create", "--username", "bob", "--password", "x"}, `unknown flag: --password`, true},
		{"user without password", "", []string{"users", "create", "--username", "carol", "--no-password"}, `created user carol`, false},
		{"list users", "", []string{"users", "list"}, `(?s)alice\s+alice@example.com\s+true\s+editor,viewer.*carol`, false},
		{"disable", "", []string{"users", "disable", "alice"}, `alice: disable done`, false},
		{"list shows disabled", "", []string{"users", "list"}, `alice\s+alice@example.com\s+false`, false},
		{"enable", "", []string{"users", "enable", "alice"}, `alice: enable done`, false},
		{"set password", "new-alice-password\n", []string{"users", "set-password", "alice"}, `alice: set-password done`, false},
		{"unknown user", "", []string{"users", "disable", "nobody"}, ``, true},
		{"create client", "", []string{"clients", "create", "--client-id", "etl", "--roles", "writer"}, `client_id=etl\nclient_secret=ghcs_[A-Za-z0-9_-]{43}\n`, false},
		{"generated client id", "", []string{"clients", "create"}, `client_id=svc-[0-9a-f]{16}`, false},
		{"list clients", "", []string{"clients", "list"}, `etl\s+true\s+writer`, false},
		{"disable client", "", []string{"clients", "disable", "etl"}, `etl: disable done`, false},
		{"delete user", "", []string{"users", "delete", "carol"}, `deleted carol`, false},
		{"unknown subcommand", "", []string{"users", "frobnicate"}, ``, true},
	}
	for _, s := range steps {
		out, err := cli(t, dir, s.stdin, s.args...)
		if (err != nil) != s.err {
			t.Fatalf("%s: err = %v, want error %v; output:\n%s", s.name, err, s.err, out)
		}
		if err != nil {
			out += err.Error() // what the operator sees on stderr
		}
		if s.want != "" && !regexp.MustCompile(s.want).MatchString(out) {
			t.Fatalf("%s: output does not match %q:\n%s", s.name, s.want, out)
		}
		for _, secret := range []string{"alice-password", "new-alice-password"} {
			if strings.Contains(out, secret) {
				t.Fatalf("%s: output contains a password", s.name)
			}
		}
	}
	// What the CLI wrote is what the server reads.
	app := openServe(t, dir, 0, nil)
	defer app.Close()
	res, err := app.Core().IssueToken(context.Background(), core.TokenRequest{GrantType: core.GrantPassword, Username: "alice", Password: "new-alice-password"})
	if err != nil || res.AccessToken == "" {
		t.Errorf("login with the password set by the CLI: %v", err)
	}
	if _, err := app.Core().IssueToken(context.Background(), core.TokenRequest{GrantType: core.GrantPassword, Username: "alice", Password: "alice-password"}); err == nil {
		t.Error("the old password still works")
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"users"}, {"clients"}, {"masterkey"}, {"serve", "extra"}} {
		var out bytes.Buffer
		err := run(context.Background(), args, strings.NewReader(""), &out, &out)
		if !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"masterkey", "generate"}, nil, &out, &out); err != nil || len(strings.TrimSpace(out.String())) < 43 {
		t.Errorf("masterkey generate = %q, %v", out.String(), err)
	}
}

func TestCLISessions(t *testing.T) {
	dir := migratedDir(t)
	if out, err := cli(t, dir, "alice-password\n", "users", "create", "--username", "alice"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	app := openServe(t, dir, 0, nil)
	for _, scope := range []string{"", "offline_access"} {
		res, err := app.Core().IssueToken(context.Background(), core.TokenRequest{GrantType: core.GrantPassword, Username: "alice", Password: "alice-password", Scope: scope})
		if err != nil || res.RefreshToken == "" {
			t.Fatalf("login: %v", err)
		}
	}
	app.Close()
	out, err := cli(t, dir, "", "sessions", "list", "alice")
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, "offline_access") || strings.Contains(out, "ghr_") || strings.Contains(out, "gho_") {
		t.Fatalf("sessions list = %v:\n%s", err, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out, err := cli(t, dir, "", "sessions", "revoke", id); err != nil || !strings.Contains(out, "revoked session "+id) {
		t.Fatalf("revoke = %v: %s", err, out)
	}
	if out, err := cli(t, dir, "", "sessions", "revoke-all", "alice"); err != nil || !strings.Contains(out, "revoked 1 sessions") {
		t.Fatalf("revoke-all = %v: %s", err, out)
	}
	if out, err := cli(t, dir, "", "sessions", "list", "alice"); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("after revoke-all = %v:\n%s", err, out)
	}
	if _, err := cli(t, dir, "", "sessions", "revoke", "no-such-session"); err == nil {
		t.Error("revoking an unknown session succeeded")
	}
}
