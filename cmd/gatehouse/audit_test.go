package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCLIAuditList: changes made with the CLI are audited under the
// operator's name, and `audit list` filters and prints them as a table or
// JSON lines.
func TestCLIAuditList(t *testing.T) {
	dir := migratedDir(t)
	for _, name := range []string{"frank", "grace"} {
		if out, err := cli(t, dir, "frank-and-grace-pw\n", "users", "create", "--username", name); err != nil {
			t.Fatalf("create %s: %v %s", name, err, out)
		}
	}
	if out, err := cli(t, dir, "", "users", "disable", "grace"); err != nil {
		t.Fatalf("disable: %v %s", err, out)
	}
	out, err := cli(t, dir, "", "audit", "list", "--type", "user.created", "--json", "--since", "1h")
	if err != nil {
		t.Fatal(err, out)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			Type       string `json:"type"`
			Actor      string `json:"actor"`
			ActorName  string `json:"actor_name"`
			TargetName string `json:"target_name"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if e.Type != "user.created" || e.Actor != "system" || !strings.HasPrefix(e.ActorName, "cli") {
			t.Errorf("event %s", line)
		}
		names = append(names, e.TargetName)
	}
	if strings.Join(names, ",") != "grace,frank" {
		t.Errorf("user.created targets %v, want newest first [grace frank]", names)
	}
	table, err := cli(t, dir, "", "audit", "list", "--limit", "1")
	if err != nil || !strings.HasPrefix(table, "TIME") || strings.Count(table, "\n") != 2 || !strings.Contains(table, "user.disabled") {
		t.Fatalf("table with one event: %v\n%s", err, table)
	}
	if strings.Contains(out+table, "frank-and-grace-pw") {
		t.Error("a password appears in the audit output")
	}
	if _, stderr, code := runLine(t, "", "audit", "list", "--since", "yesterday", "--data-dir", dir); code != 2 || !strings.Contains(stderr, "--since") {
		t.Errorf("bad --since: exit %d %q", code, stderr)
	}
}
