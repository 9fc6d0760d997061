package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/store/storetest"
)

// TestCLIMigrate walks `gatehouse migrate` through an empty database, a
// migrated one, and one written by the release before versioned
// migrations; other commands refuse a database without a schema in one line
// and leave nothing behind.
func TestCLIMigrate(t *testing.T) {
	t.Setenv("GATEHOUSE_MASTER_KEY", storetest.UpgradeFixtureMasterKey)
	dir := t.TempDir()
	_, stderr, code := runLine(t, "", "users", "list", "--data-dir", dir)
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "gatehouse migrate up") {
		t.Fatalf("users list on a new data directory: exit %d: %q", code, stderr)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("the refused command left %v", left)
	}
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			db := []string{"--data-dir", t.TempDir(), "--database-url", b.DSN(t), "--log-level", "warn"}
			line := func(want string, args ...string) string {
				t.Helper()
				out, stderr, code := runLine(t, "", append(args, db...)...)
				if code != 0 || !strings.Contains(out, want) {
					t.Fatalf("%q: exit %d, stdout %q, stderr %q; want %q", args, code, out, stderr, want)
				}
				return out
			}
			line("current:   empty (no schema)", "migrate", "status")
			var st struct {
				Empty   bool     `json:"empty"`
				Latest  string   `json:"latest"`
				Pending []string `json:"pending"`
			}
			if err := json.Unmarshal([]byte(line(`"empty": true`, "migrate", "status", "--json")), &st); err != nil || len(st.Pending) == 0 || st.Latest == "" {
				t.Fatalf("status --json: %+v %v", st, err)
			}
			line("applied "+st.Pending[0], "migrate", "up")
			line("pending:   none", "migrate", "status")
			line("the schema is up to date", "migrate", "up")
			line("", "users", "list")
		})
		t.Run(b.Name+"/previous release", func(t *testing.T) {
			dsn := b.DSN(t)
			storetest.LoadUpgradeFixture(t, b.Name, dsn)
			db := []string{"--data-dir", t.TempDir(), "--database-url", dsn, "--log-level", "warn"}
			if _, stderr, code := runLine(t, "", append([]string{"users", "list"}, db...)...); code != 1 || !strings.Contains(stderr, "unversioned") || !strings.Contains(stderr, "gatehouse migrate up") {
				t.Fatalf("users list on the previous release's database: exit %d %q", code, stderr)
			}
			if out, stderr, code := runLine(t, "", append([]string{"migrate", "up"}, db...)...); code != 0 || !strings.Contains(out, "adopted the existing tables") {
				t.Fatalf("migrate up: exit %d %q %q", code, out, stderr)
			}
			if out, stderr, code := runLine(t, "", append([]string{"users", "list"}, db...)...); code != 0 || !strings.Contains(out, "alice") {
				t.Fatalf("users list after the upgrade: exit %d %q %q", code, out, stderr)
			}
		})
	}
}
