package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestLiveBaseline: with -baseline-grpc/-baseline-http the tool loads both
// servers in one run, each scenario on both, and judges the first against
// the second.
func TestLiveBaseline(t *testing.T) {
	main, base := newFakeGatehouse(t), newFakeGatehouse(t)
	getenv := env(map[string]string{
		envClientID: testClientID, envClientSecret: testClientSecret,
		envUsername: testUsername, envPassword: testPassword,
		envBaselineClientSecret: testClientSecret, envBaselinePassword: testPassword,
	})
	var out, errb bytes.Buffer
	args := []string{"-grpc", main.grpcAddr, "-http", main.httpURL, "-label", "postgres",
		"-baseline-grpc", base.grpcAddr, "-baseline-http", base.httpURL, "-baseline-label", "sqlite",
		"-c", "2", "-d", "50ms", "-tokens", "3", "-rounds", "2",
		"-scenarios", "issue-rest,introspect-rest,refresh-rest", "-json"}
	if code := run(t.Context(), args, getenv, &out, &errb); code != exitOK {
		t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	assertNoLeaks(t, main, out.String(), errb.String())
	assertNoLeaks(t, base, out.String(), errb.String())
	report := out.String()
	for _, want := range []string{"label: sqlite", "label: postgres", `against baseline "sqlite"`, "refresh-rest req/s postgres/sqlite"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	lines := jsonLines(t, report)
	if n := len(lines["baseline"]); n != 3 {
		t.Errorf("%d baseline comparison lines, want 3 (one per scenario): %v", n, lines["baseline"])
	}
	for _, f := range []*fakeGatehouse{main, base} {
		if f.logins.Load() == 0 {
			t.Error("a server had no logins: the refresh scenario did not run on both")
		}
	}
}

func TestLiveBaselineFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"http missing", []string{"-baseline-grpc", "127.0.0.1:1"}, nil, "needs both"},
		{"with a baseline file", []string{"-baseline-grpc", "127.0.0.1:1", "-baseline-http", "http://127.0.0.1:2", "-baseline", "x.jsonl"}, nil, "exclude each other"},
		{"no secret for the baseline", []string{"-baseline-grpc", "127.0.0.1:1", "-baseline-http", "http://127.0.0.1:2", "-scenarios", "issue-rest"}, nil, envBaselineClientSecret},
		{"no password for the baseline", []string{"-baseline-grpc", "127.0.0.1:1", "-baseline-http", "http://127.0.0.1:2", "-scenarios", "refresh-rest"},
			map[string]string{envBaselineClientSecret: "s"}, envBaselinePassword},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{envClientID: testClientID, envClientSecret: testClientSecret, envUsername: testUsername, envPassword: testPassword}
			for k, v := range tc.env {
				vars[k] = v
			}
			_, err := parseConfig(tc.args, env(vars), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseConfig: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}
