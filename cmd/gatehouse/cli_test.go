package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/service/errs"
	"github.com/gatehouse/gatehouse/service/secrets"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/storetest"
)

// runLine runs one command line as main does and returns what the
// operator sees: standard output, standard error and the exit status.
func runLine(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = report(run(context.Background(), args, strings.NewReader(stdin), &out, &errOut), &errOut)
	return out.String(), errOut.String(), code
}

// TestCLILines checks the command line's surface: help, flag positions,
// usage errors, version and completion.
func TestCLILines(t *testing.T) {
	dir := migratedDir(t)
	if _, stderr, code := runLine(t, "", "users", "create", "--username", "carol", "--no-password", "--data-dir", dir, "--log-level", "warn"); code != 0 {
		t.Fatalf("create carol: %d %s", code, stderr)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		want     []string // substrings of stdout+stderr
		dontWant []string
	}{
		{"flags after the argument", []string{"users", "disable", "carol", "--data-dir", dir, "--log-level", "warn"}, 0, []string{"carol: disable done"}, nil},
		{"flags between the arguments", []string{"users", "--data-dir", dir, "enable", "--log-level=warn", "carol"}, 0, []string{"carol: enable done"}, nil},
		{"single-dash long flags", []string{"users", "disable", "-data-dir", dir, "-log-level=warn", "carol"}, 0, []string{"carol: disable done"}, nil},
		{"users create -h", []string{"users", "create", "-h"}, 0, []string{"--username", "--no-password", "--data-dir", "--database-url", "--master-key-file", "--log-level", "GATEHOUSE_DATA_DIR"},
			[]string{"--grpc-addr", "--token-ttl", "--issuer", "--poll-interval", "--tls-cert"}},
		{"users -h lists its subcommands", []string{"users", "-h"}, 0, []string{"create", "list", "disable", "enable", "delete", "set-password", "unlock"}, []string{"--data-dir"}},
		{"keys policy set -h shows the policy flags", []string{"keys", "policy", "set", "--help"}, 0, []string{"--key-publish-lead", "--signing-alg", "--data-dir"}, []string{"--token-ttl"}},
		{"issuers add -h: --issuer is the trusted issuer", []string{"issuers", "add", "-h"}, 0, []string{"--issuer", "the trusted issuer", "--map GROUP=ROLES"}, []string{"the iss of issued tokens"}},
		{"serve -h shows the server flags", []string{"serve", "-h"}, 0, []string{"--grpc-addr", "--auto-migrate", "--accept-key-policy-change", "GATEHOUSE_AUTO_MIGRATE", "--data-dir"}, nil},
		{"healthcheck -h has no database flags", []string{"healthcheck", "-h"}, 0, []string{"--cacert", "--timeout"}, []string{"--data-dir"}},
		{"migrate -h", []string{"migrate", "-h"}, 0, []string{"status", "up"}, nil},
		{"migrate status -h", []string{"migrate", "status", "-h"}, 0, []string{"--json", "--data-dir"}, nil},
		{"unknown subcommand", []string{"users", "frobnicate", "--data-dir", dir}, 2, []string{`unknown users subcommand "frobnicate"`, "create, delete, disable", "gatehouse users -h"}, nil},
		{"unknown command", []string{"nope"}, 2, []string{`unknown command "nope"`, "users", "gatehouse -h"}, nil},
		{"group without subcommand", []string{"keys"}, 2, []string{"keys needs a subcommand: list", "gatehouse keys -h"}, nil},
		{"unknown flag", []string{"users", "list", "--nope"}, 2, []string{"unknown flag: --nope", "gatehouse users list -h"}, nil},
		{"wrong argument count", []string{"sessions", "revoke"}, 2, []string{"sessions revoke needs exactly one session id", "gatehouse sessions revoke -h"}, nil},
		{"--version", []string{"--version"}, 0, []string{"gatehouse ", "go1."}, nil},
		{"completion bash", []string{"completion", "bash"}, 0, []string{"gatehouse", "__start_gatehouse"}, nil},
		{"completion of subcommand names", []string{"__complete", "users", "dis"}, 0, []string{"disable"}, []string{"enable"}},
		{"completion of groups", []string{"__complete", "mi"}, 0, []string{"migrate"}, []string{"users"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runLine(t, "", tc.args...)
			all := stdout + stderr
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, all)
			}
			if code != 0 && (stderr == "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "gatehouse: ")) {
				t.Errorf("stderr is not one line \"gatehouse: ...\":\n%s", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, w := range tc.dontWant {
				if strings.Contains(all, w) {
					t.Errorf("output has %q:\n%s", w, all)
				}
			}
		})
	}
}

// TestRootHelpListsEveryGroup: the root's help names every command.
func TestRootHelpListsEveryGroup(t *testing.T) {
	stdout, _, code := runLine(t, "", "-h")
	if code != 0 {
		t.Fatalf("gatehouse -h: exit %d", code)
	}
	for _, c := range newRootCmd(nil, io.Discard, io.Discard).Commands() {
		if c.IsAvailableCommand() && !strings.Contains(stdout, "\n  "+c.Name()+" ") {
			t.Errorf("gatehouse -h does not list %s:\n%s", c.Name(), stdout)
		}
	}
	for _, group := range []string{"serve", "users", "clients", "sessions", "keys", "issuers", "migrate", "masterkey", "certs", "healthcheck", "version", "completion"} {
		if !strings.Contains(stdout, "\n  "+group+" ") {
			t.Errorf("gatehouse -h does not list %s", group)
		}
	}
}

// TestCLIErrorsAreOneCleanLine: errors from the core reach the operator as
// one line, once, without ent or SQL driver text, on every database.
func TestCLIErrorsAreOneCleanLine(t *testing.T) {
	_, key, err := secrets.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GATEHOUSE_MASTER_KEY", key)
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			db := []string{"--data-dir", t.TempDir(), "--database-url", b.DSN(t), "--log-level", "warn"}
			if _, stderr, code := runLine(t, "", append([]string{"migrate", "up"}, db...)...); code != 0 {
				t.Fatalf("migrate up: exit %d: %s", code, stderr)
			}
			create := append([]string{"users", "create", "--username", "dave"}, db...)
			if _, stderr, code := runLine(t, "dave-password\n", create...); code != 0 {
				t.Fatalf("create: exit %d: %s", code, stderr)
			}
			for _, tc := range []struct {
				name, stdin string
				args        []string
				want        string
			}{
				{"duplicate user", "dave-password\n", create, "gatehouse: a user with this username already exists\n"},
				{"bad password", "short\n", append([]string{"users", "create", "--username", "erin"}, db...), "gatehouse: password must be at least 8 characters long\n"},
				{"unknown user", "", append([]string{"users", "delete", "nobody"}, db...), "gatehouse: no such user\n"},
				{"duplicate client", "", append([]string{"clients", "create", "--client-id", "dave"}, db...), ""},
				{"duplicate client again", "", append([]string{"clients", "create", "--client-id", "dave"}, db...), "gatehouse: a client with this client id already exists\n"},
			} {
				_, stderr, code := runLine(t, tc.stdin, tc.args...)
				if tc.want == "" {
					if code != 0 {
						t.Fatalf("%s: exit %d: %s", tc.name, code, stderr)
					}
					continue
				}
				if code != 1 || stderr != tc.want {
					t.Errorf("%s: exit %d, stderr %q; want 1, %q", tc.name, code, stderr, tc.want)
				}
				for _, bad := range []string{"ent:", "UNIQUE", "(2067)", "SQLSTATE", "invalid_argument", "already_exists"} {
					if strings.Contains(stderr, bad) {
						t.Errorf("%s: stderr has %q: %s", tc.name, bad, stderr)
					}
				}
			}
		})
	}
}

// TestUserMessage covers the formatter on errors the CLI cannot easily
// provoke.
func TestUserMessage(t *testing.T) {
	root := &cobra.Command{Use: "gatehouse"}
	users := &cobra.Command{Use: "users", Annotations: map[string]string{annotationNoun: "user"}}
	list := &cobra.Command{Use: "list"}
	root.AddCommand(users)
	users.AddCommand(list)
	pgErr := &pgconn.PgError{Severity: "ERROR", Message: `duplicate key value violates unique constraint "x"`, Code: "23505"}
	inner := errs.New(errs.InvalidArgument, "password must be at least 8 characters long")
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"doubled core error", errs.Wrap(errs.InvalidArgument, inner, "%s", inner.Message), "password must be at least 8 characters long"},
		{"store conflict", fmt.Errorf("insert: %w", store.ErrConflict), "user already exists"},
		{"store miss", fmt.Errorf("get: %w", store.ErrNotFound), "no such user"},
		{"driver text", fmt.Errorf("insert account: %w", pgErr), "insert account"},
		{"driver text only", pgErr, "database error"},
		{"internal core error", errs.Wrap(errs.Internal, fmt.Errorf("write: %w", pgErr), "could not save"), "could not save: write"},
		{"outage", errs.Wrap(errs.Internal, &store.UnavailableError{Err: errors.New("dial tcp: refused")}, "x"), "the database is unavailable, retry later"},
		{"several lines", errors.New("failed to connect:\n\thost a: refused\n\thost b: refused"), "failed to connect: host a: refused; host b: refused"},
		{"usage", usageErr("users list takes no arguments"), "users list takes no arguments (see gatehouse users list -h)"},
		{"plain", errors.New("read CA bundle: open /nonexistent: no such file"), "read CA bundle: open /nonexistent: no such file"},
	} {
		if got := userMessage(list, tc.err); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestServeMigrationFlags: --auto-migrate is unset unless given (flag or
// environment); KeyPolicyFlags names the key settings given explicitly.
func TestServeMigrationFlags(t *testing.T) {
	ptr := func(b bool) *bool { return &b }
	for _, tc := range []struct {
		name       string
		env        map[string]string
		args       []string
		auto       *bool
		accept     bool
		policyKeys []string
	}{
		{"defaults", nil, nil, nil, false, nil},
		{"flag", nil, []string{"--auto-migrate"}, ptr(true), false, nil},
		{"flag false", nil, []string{"--auto-migrate=false"}, ptr(false), false, nil},
		{"env", map[string]string{"GATEHOUSE_AUTO_MIGRATE": "false"}, nil, ptr(false), false, nil},
		{"flag over env", map[string]string{"GATEHOUSE_AUTO_MIGRATE": "false"}, []string{"--auto-migrate"}, ptr(true), false, nil},
		{"accept key policy change", map[string]string{"GATEHOUSE_ACCEPT_KEY_POLICY_CHANGE": "true"}, nil, nil, true, nil},
		{"key policy flags", map[string]string{"GATEHOUSE_KEY_PUBLISH_LEAD": "3h"}, []string{"--signing-alg", "EdDSA", "--token-ttl", "10m", "--accept-key-policy-change"},
			nil, true, []string{"signing-alg", "key-publish-lead"}},
		{"all key policy flags", nil, []string{"--rsa-bits=3072", "--key-rotation-interval", "24h", "--signing-alg=RS256", "--key-publish-lead=1h"},
			nil, false, []string{"signing-alg", "rsa-bits", "key-rotation-interval", "key-publish-lead"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			o, err := parseServe(tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if (o.cfg.AutoMigrate == nil) != (tc.auto == nil) || (tc.auto != nil && *o.cfg.AutoMigrate != *tc.auto) {
				t.Errorf("AutoMigrate = %v, want %v", fmtPtr(o.cfg.AutoMigrate), fmtPtr(tc.auto))
			}
			if o.cfg.AcceptKeyPolicyChange != tc.accept {
				t.Errorf("AcceptKeyPolicyChange = %v, want %v", o.cfg.AcceptKeyPolicyChange, tc.accept)
			}
			if !slices.Equal(o.cfg.KeyPolicyFlags, tc.policyKeys) {
				t.Errorf("KeyPolicyFlags = %q, want %q", o.cfg.KeyPolicyFlags, tc.policyKeys)
			}
		})
	}
	t.Setenv("GATEHOUSE_AUTO_MIGRATE", "sometimes")
	if _, err := parseServe(); err == nil || !strings.Contains(err.Error(), "GATEHOUSE_AUTO_MIGRATE") {
		t.Errorf("malformed GATEHOUSE_AUTO_MIGRATE: %v", err)
	}
}

func fmtPtr(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}

// TestNormalizeArgs: single-dash long flags become double-dash ones, but
// not values, positional arguments or anything after "--".
func TestNormalizeArgs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"users disable -data-dir d carol", "users disable --data-dir d carol"},
		{"users create -username -roles -roles r", "users create --username -roles --roles r"},
		{"users create -h -no-password -email=a@b", "users create -h --no-password --email=a@b"},
		{"issuers link -issuer s -not-a-flag", "issuers link --issuer s -not-a-flag"},
		{"healthcheck -cacert ca.pem https://x", "healthcheck --cacert ca.pem https://x"},
		{"users delete -- -data-dir", "users delete -- -data-dir"},
		{"-version", "--version"},
	} {
		got := strings.Join(normalizeArgs(newRootCmd(nil, io.Discard, io.Discard), strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}
