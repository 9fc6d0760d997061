package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var credsEnv = env(map[string]string{envClientID: testClientID, envClientSecret: testClientSecret})

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		wantErr string // substring; empty means success
		check   func(t *testing.T, c config)
	}{
		{name: "defaults", env: credsEnv, check: func(t *testing.T, c config) {
			if c.concurrency != 32 || c.duration != 10*time.Second || c.tokens != 64 || c.conns != 4 {
				t.Errorf("defaults: %+v", c)
			}
			if !slices.Equal(c.scenarios, defaultScenarios) {
				t.Errorf("scenarios = %v", c.scenarios)
			}
			if c.clientID != testClientID || c.clientSecret != testClientSecret {
				t.Error("credentials not taken from the environment")
			}
		}},
		{name: "flags win over env", args: []string{"-client-id", "other", "-client-secret", "flagsecret"}, env: credsEnv, check: func(t *testing.T, c config) {
			if c.clientID != "other" || c.clientSecret != "flagsecret" {
				t.Errorf("got %q/%q", c.clientID, c.clientSecret)
			}
		}},
		{name: "scenario list order and dedupe", args: []string{"-scenarios", " jwx-verify, validate-grpc,jwx-verify "}, env: credsEnv, check: func(t *testing.T, c config) {
			if want := []string{scJWXVerify, scValidateGRPC}; !slices.Equal(c.scenarios, want) {
				t.Errorf("scenarios = %v, want %v", c.scenarios, want)
			}
		}},
		{name: "all keyword", args: []string{"-scenarios", "all"}, env: credsEnv, check: func(t *testing.T, c config) {
			if !slices.Equal(c.scenarios, defaultScenarios) {
				t.Errorf("scenarios = %v", c.scenarios)
			}
		}},
		{name: "max duration", args: []string{"-d", "10m"}, env: credsEnv},
		{name: "missing credentials", env: env(nil), wantErr: "missing client credentials"},
		{name: "missing secret", args: []string{"-client-id", "x"}, env: env(nil), wantErr: "missing client credentials"},
		{name: "c zero", args: []string{"-c", "0"}, env: credsEnv, wantErr: "-c 0"},
		{name: "c negative", args: []string{"-c", "-3"}, env: credsEnv, wantErr: "-c -3"},
		{name: "c huge", args: []string{"-c", "100000"}, env: credsEnv, wantErr: "-c 100000"},
		{name: "d zero", args: []string{"-d", "0s"}, env: credsEnv, wantErr: "-d 0s"},
		{name: "d negative", args: []string{"-d", "-1s"}, env: credsEnv, wantErr: "-d -1s"},
		{name: "d too long", args: []string{"-d", "11m"}, env: credsEnv, wantErr: "-d 11m0s"},
		{name: "d malformed", args: []string{"-d", "ten"}, env: credsEnv, wantErr: "invalid value"},
		{name: "tokens zero", args: []string{"-tokens", "0"}, env: credsEnv, wantErr: "-tokens 0"},
		{name: "conns zero", args: []string{"-conns", "0"}, env: credsEnv, wantErr: "-conns 0"},
		{name: "unknown scenario", args: []string{"-scenarios", "validate-grpc,nope"}, env: credsEnv, wantErr: `unknown scenario "nope"`},
		{name: "empty scenarios", args: []string{"-scenarios", " , "}, env: credsEnv, wantErr: "empty list"},
		{name: "bad jwx mode", args: []string{"-jwx-mode", "fast"}, env: credsEnv, wantErr: "-jwx-mode"},
		{name: "positional args", args: []string{"extra"}, env: credsEnv, wantErr: "unexpected arguments"},
		{name: "unknown flag", args: []string{"-nope"}, env: credsEnv, wantErr: "not defined"},
		{name: "several problems at once", args: []string{"-c", "0", "-d", "0s"}, env: credsEnv, wantErr: "-d 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(tt.args, tt.env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range cfg.shown {
				if strings.Contains(f.Value, cfg.clientSecret) {
					t.Errorf("flag %s shows the secret", f.Name)
				}
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

func TestRunUsageExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  func(string) string
		want int
	}{
		{"help", []string{"-h"}, credsEnv, exitOK},
		{"bad flag", []string{"-c", "0"}, credsEnv, exitUsage},
		{"no credentials", nil, env(nil), exitUsage},
		{"remote gRPC target", []string{"-grpc", "10.0.0.1:50051"}, credsEnv, exitUsage},
		{"remote HTTP base", []string{"-http", "http://192.168.1.1:8080"}, credsEnv, exitUsage},
		{"public host name", []string{"-http", "http://example.com"}, credsEnv, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(t.Context(), tt.args, tt.env, &out, &errb); got != tt.want {
				t.Fatalf("exit = %d, want %d; stderr:\n%s", got, tt.want, errb.String())
			}
			if tt.name == "help" && !strings.Contains(errb.String(), "-allow-remote") {
				t.Errorf("usage text lacks the flags:\n%s", errb.String())
			}
		})
	}
}

// jsonLines splits -json output into its records by type.
func jsonLines(t *testing.T, out string) map[string][]map[string]any {
	t.Helper()
	recs := map[string][]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		typ, _ := m["type"].(string)
		recs[typ] = append(recs[typ], m)
	}
	return recs
}

// assertNoLeaks fails if any issued token or the secret shows up in output.
func assertNoLeaks(t *testing.T, f *fakeGatehouse, outputs ...string) {
	t.Helper()
	all := strings.Join(outputs, "\n")
	if strings.Contains(all, testClientSecret) {
		t.Error("output contains the client secret")
	}
	for _, tok := range f.tokens() {
		if strings.Contains(all, tok) {
			t.Fatal("output contains an access token")
		}
	}
}

func TestRunAllScenarios(t *testing.T) {
	f := newFakeGatehouse(t)
	var out, errb bytes.Buffer
	args := []string{"-grpc", f.grpcAddr, "-http", f.httpURL, "-c", "3", "-d", "150ms", "-tokens", "5", "-conns", "2", "-json"}
	if code := run(t.Context(), args, credsEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	t.Logf("stdout:\n%s", out.String())
	assertNoLeaks(t, f, out.String(), errb.String())

	for _, want := range []string{"GOMAXPROCS=", "go1.", "scenario", "req/s", "p99", "-c=3", "-client-secret=(redacted", "validate-grpc/jwx-verify", "validate-rest/jwx-verify"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	recs := jsonLines(t, out.String())
	if len(recs["meta"]) != 1 {
		t.Errorf("meta lines = %d", len(recs["meta"]))
	}
	if len(recs["ratio"]) != 2 {
		t.Errorf("ratio lines = %d, want 2", len(recs["ratio"]))
	}
	var names []string
	for _, r := range recs["result"] {
		name := r["scenario"].(string)
		names = append(names, name)
		if r["skipped"] != nil {
			t.Errorf("%s skipped: %v", name, r["skipped"])
		}
		if ok := r["ok"].(float64); ok < 1 {
			t.Errorf("%s: no successful calls", name)
		}
		if e := r["errors"].(float64); e != 0 {
			t.Errorf("%s: %v errors, first: %v", name, e, r["first_error"])
		}
		if r["p50_us"].(float64) <= 0 || r["max_us"].(float64) < r["p99_us"].(float64) {
			t.Errorf("%s: odd latencies %v", name, r)
		}
		if el := r["elapsed_s"].(float64); el < 0.14 || el > 5 {
			t.Errorf("%s: elapsed %vs, want about 0.15s", name, el)
		}
	}
	if !slices.Equal(names, defaultScenarios) {
		t.Errorf("scenarios run = %v, want %v", names, defaultScenarios)
	}
	if f.validated.Load() == 0 {
		t.Error("the server validated nothing")
	}
}

func TestRunGatewayJWKSAndParseMode(t *testing.T) {
	f := newFakeGatehouse(t)
	f.gatewayJWKS = true
	var out, errb bytes.Buffer
	args := []string{"-grpc", "dns:///" + f.grpcAddr, "-http", f.httpURL + "/", "-c", "2", "-d", "100ms", "-tokens", "2",
		"-scenarios", "jwx-verify", "-jwx-mode", "parse", "-json"}
	if code := run(t.Context(), args, credsEnv, &out, &errb); code != exitOK {
		t.Fatalf("exit = %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	recs := jsonLines(t, out.String())
	if len(recs["result"]) != 1 || recs["result"][0]["ok"].(float64) < 1 {
		t.Fatalf("results = %v\nstderr:\n%s", recs["result"], errb.String())
	}
	if ref := recs["meta"][0]["reference"]; !strings.Contains(ref.(string), "jwt.Parse") {
		t.Errorf("reference = %v", ref)
	}
}

func TestRunCountsErrorsAndRedacts(t *testing.T) {
	f := newFakeGatehouse(t)
	wrong := env(map[string]string{envClientID: testClientID, envClientSecret: testClientSecret + "-wrong"})
	var out, errb bytes.Buffer
	// issue-rest needs no setup, so the wrong secret shows up as errors.
	args := []string{"-http", f.httpURL, "-c", "2", "-d", "100ms", "-scenarios", "issue-rest", "-json"}
	if code := run(t.Context(), args, wrong, &out, &errb); code != exitOK {
		t.Fatalf("exit = %d\nstderr:\n%s", code, errb.String())
	}
	if strings.Contains(out.String()+errb.String(), testClientSecret+"-wrong") {
		t.Fatal("output contains the (wrong) client secret")
	}
	recs := jsonLines(t, out.String())
	r := recs["result"][0]
	if r["ok"].(float64) != 0 || r["errors"].(float64) < 1 {
		t.Fatalf("result = %v", r)
	}
	kinds := r["errors_by_kind"].(map[string]any)
	if _, ok := kinds["http 401"]; !ok || len(kinds) != 1 {
		t.Errorf("errors_by_kind = %v", kinds)
	}
	if fe := r["first_error"].(string); !strings.Contains(fe, "401") || !strings.Contains(fe, "[secret]") {
		t.Errorf("first_error = %q", fe)
	}
	if !strings.Contains(out.String(), "issue-rest errors: http 401") {
		t.Errorf("report lacks the error line:\n%s", out.String())
	}
}

func TestRunSetupFailure(t *testing.T) {
	f := newFakeGatehouse(t)
	wrong := env(map[string]string{envClientID: "nobody", envClientSecret: "nothing"})
	var out, errb bytes.Buffer
	args := []string{"-grpc", f.grpcAddr, "-http", f.httpURL, "-c", "2", "-d", "100ms", "-scenarios", "validate-grpc"}
	if code := run(t.Context(), args, wrong, &out, &errb); code != exitFailure {
		t.Fatalf("exit = %d, want %d\nstderr:\n%s", code, exitFailure, errb.String())
	}
	if !strings.Contains(errb.String(), "Unauthenticated") {
		t.Errorf("stderr lacks the cause:\n%s", errb.String())
	}
}

func TestRunRejectedTokensAreRedacted(t *testing.T) {
	f := newFakeGatehouse(t)
	var out, errb bytes.Buffer
	ctx := t.Context()
	// Tokens signed by another key: the fake server rejects them and
	// echoes them in its error message.
	other := newFakeGatehouse(t)
	ts, err := issueTokens(ctx, mustPool(t, other.grpcAddr), testClientID, testClientSecret, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	pool := mustPool(t, f.grpcAddr)
	r := runScenario(ctx, scValidateGRPC, 2, 100*time.Millisecond, validateGRPC(pool, ts.tokens), redactor{})
	if r.ok != 0 || r.errors == 0 || r.byKind["grpc Unauthenticated"] != r.errors {
		t.Fatalf("result = %+v", r.merged)
	}
	if err := writeReport(&out, runMeta{}, []result{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.firstError, "[token]") {
		t.Errorf("first error not redacted: %q", r.firstError)
	}
	assertNoLeaks(t, other, out.String(), errb.String(), r.firstError)
}

func mustPool(t *testing.T, addr string) *grpcPool {
	t.Helper()
	p, err := newGRPCPool(addr, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

// TestMain lets the test binary stand in for gatehouse-bench when the
// tool re-executes itself as a bare server (startBareProcess).
func TestMain(m *testing.M) {
	if kind := os.Getenv(envBareServer); kind != "" {
		os.Exit(serveBareChild(kind, os.Getenv(envBareJWKS), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
