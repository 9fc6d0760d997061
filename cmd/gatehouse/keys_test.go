package main

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/service/core"
	"github.com/gatehouse/gatehouse/service/server"
	"github.com/gatehouse/gatehouse/store"
)

// cliStep is one CLI call and what its output must match (a regexp, "" for
// anything), or that it must fail.
type cliStep struct {
	args []string
	want string
	err  bool
}

// runCLISteps runs steps in order on dir's database.
func runCLISteps(t *testing.T, dir string, steps []cliStep) {
	t.Helper()
	for _, s := range steps {
		out, err := cli(t, dir, "", s.args...)
		if (err != nil) != s.err {
			t.Fatalf("%q: err = %v, want error %v; output:\n%s", s.args, err, s.err, out)
		}
		if s.want != "" && !regexp.MustCompile(s.want).MatchString(out) {
			t.Fatalf("%q: output does not match %q:\n%s", s.args, s.want, out)
		}
	}
}

// openServe opens dir as `gatehouse serve` does (key policy, key schedule)
// with a clock offset from real time, without listening.
func openServe(t *testing.T, dir string, offset time.Duration, mutate func(*server.Config)) *server.App {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = dir
	cfg.Now = func() time.Time { return time.Now().Add(offset) }
	if mutate != nil {
		mutate(&cfg)
	}
	if cfg.Role != server.RoleServe {
		t.Fatal("DefaultConfig is not the serve role")
	}
	app, err := server.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// keyLines returns the `keys list` rows by kid: state and activation time.
func keyLines(t *testing.T, out string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
		if len(f) != 6 {
			t.Fatalf("keys list row %q", line)
		}
		rows[f[0]] = f[1:]
	}
	return rows
}

// TestCLIDoesNotRunKeySchedule: on a database whose server issues 1 h
// tokens and has a retired key and a due successor, CLI commands with
// their own flags (`users list --token-ttl 10s`, `keys list`) neither remove
// the retired key nor activate the successor; the server then still
// accepts a token of the retired key.
func TestCLIDoesNotRunKeySchedule(t *testing.T) {
	ctx := context.Background()
	dir := migratedDir(t)
	if out, err := cli(t, dir, "alice-password\n", "users", "create", "--username", "alice"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The server's clock runs 3 h behind, so that for the CLI (real time)
	// the retired key is long past a 10 s token and the successor due.
	ttl := func(c *server.Config) { c.Core.AccessTokenTTL = time.Hour }
	app := openServe(t, dir, -3*time.Hour, ttl)
	res, err := app.Core().IssueToken(ctx, core.TokenRequest{GrantType: core.GrantPassword, Username: "alice", Password: "alice-password"})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Keys().Rotate(ctx, true); err != nil { // retire the signer
		t.Fatal(err)
	}
	if err := app.Keys().Rotate(ctx, false); err != nil { // successor due in 2 h
		t.Fatal(err)
	}
	app.Close()

	if out, err := cli(t, dir, "", "users", "list", "--token-ttl", "10s", "--key-publish-lead", "1m"); err != nil || !strings.Contains(out, "alice") {
		t.Fatalf("users list = %v: %s", err, out)
	}
	out, err := cli(t, dir, "", "keys", "list", "--token-ttl", "10s")
	if err != nil {
		t.Fatalf("keys list = %v: %s", err, out)
	}
	states := map[string]int{}
	for _, row := range keyLines(t, out) {
		states[row[1]]++
	}
	if states["retired"] != 1 || states["active"] != 1 || states["next"] != 1 {
		t.Fatalf("the CLI changed the keys: %v\n%s", states, out)
	}

	app = openServe(t, dir, -3*time.Hour+time.Minute, ttl)
	defer app.Close()
	if _, err := app.Core().ValidateToken(ctx, res.AccessToken, core.ValidateOptions{}); err != nil {
		t.Errorf("token of the retired key after CLI runs: %v", err)
	}
}

// TestCLIKeyPolicy: `keys rotate` publishes with the stored lead whatever
// its own flags say; `keys policy` shows the stored policy and `keys policy
// set` changes only what it is given.
func TestCLIKeyPolicy(t *testing.T) {
	dir := migratedDir(t)
	// An empty database: commands that need no keys work, key commands say
	// that serve must run first, and nothing is created.
	if out, err := cli(t, dir, "", "users", "list"); err != nil {
		t.Fatalf("users list on an empty database = %v: %s", err, out)
	}
	for _, args := range [][]string{{"keys", "rotate"}, {"keys", "policy"}, {"keys", "policy", "set", "--key-publish-lead", "1h"}} {
		if out, err := cli(t, dir, "", args...); err == nil || !strings.Contains(err.Error(), "start `gatehouse serve` once first") {
			t.Errorf("%q on an empty database = %v: %s", args, err, out)
		}
	}
	if out, err := cli(t, dir, "", "keys", "list"); err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("keys list on an empty database = %v: %s", err, out)
	}

	openServe(t, dir, 0, func(c *server.Config) { c.KeyRotation.PublishLead = 5 * time.Hour }).Close()
	start := time.Now().UTC().Truncate(time.Second)
	out, err := cli(t, dir, "", "keys", "rotate", "--key-publish-lead", "1m", "--signing-alg", "EdDSA")
	if err != nil {
		t.Fatalf("keys rotate = %v: %s", err, out)
	}
	var next []string
	for _, row := range keyLines(t, out) {
		if row[1] == "next" {
			next = row
		}
	}
	if next == nil {
		t.Fatalf("no successor published:\n%s", out)
	}
	at, err := time.Parse(time.DateTime, next[3])
	if err != nil {
		t.Fatal(err)
	}
	if next[0] != "ES256" || at.Before(start.Add(5*time.Hour)) || at.After(time.Now().Add(5*time.Hour)) {
		t.Errorf("successor %v, want ES256 activating 5 h after %s (the stored lead)", next, start)
	}

	steps := []cliStep{
		{[]string{"keys", "policy"}, `(?s)signing-alg\s+ES256.*key-rotation-interval\s+720h0m0s.*key-publish-lead\s+5h0m0s.*retired-key-retention\s+16m30s`, false},
		{[]string{"keys", "policy", "set"}, ``, true},
		{[]string{"keys", "policy", "set", "--key-publish-lead", "800h"}, ``, true}, // not below the interval
		{[]string{"keys", "policy", "set", "--signing-alg", "HS256"}, ``, true},
		{[]string{"keys", "policy", "set", "--key-publish-lead", "3h", "--token-ttl", "24h"}, `(?s)changed from: alg=ES256 rotation-interval=720h0m0s publish-lead=5h0m0s.*key-publish-lead\s+3h0m0s.*retired-key-retention\s+16m30s`, false},
		{[]string{"keys", "policy", "set", "--key-publish-lead", "3h"}, `unchanged`, false},
		{[]string{"keys", "policy", "set", "--signing-alg", "RS256", "--rsa-bits", "3072"}, `(?s)signing-alg\s+RS256.*rsa-bits\s+3072.*key-publish-lead\s+3h0m0s`, false},
	}
	runCLISteps(t, dir, steps)
	// The server uses the changed policy at its next key step.
	app := openServe(t, dir, 0, nil)
	defer app.Close()
	// The first switch activates the published ES256 successor, the
	// second makes a new key.
	for range 2 {
		if err := app.Keys().Rotate(context.Background(), true); err != nil {
			t.Fatal(err)
		}
	}
	list, err := app.Keys().List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var active store.SigningKey
	for _, k := range list {
		if k.State == store.KeyActive {
			active = k
		}
	}
	if active.Alg != "RS256" {
		t.Errorf("key after the policy change: %s", active.Alg)
	}
}
